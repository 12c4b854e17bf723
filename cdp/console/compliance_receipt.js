// An erasure request's receipt on the erasure desk: what each step did, as tables of counts in
// words (the raw JSON beside it keeps the API's names), and the verification scan's verdict.
// Read by compliance_request_detail.js through window.cdpConsole.parts.requests.receipt.
"use strict";

(function requestReceipt() {
  const { $, el, when, modeWords, stepIndex } = window.cdpConsole.parts.requests;
  // What the receipt's counts are of, in words.
  const ITEM = {
    publicIds: "会员编号 profile ids",
    union: "UnionID",
    phone: "手机号 phone",
    openIds: "OpenID",
    suppressions: "新增屏蔽 suppressions added",
    data_keys: "销毁的数据密钥 data keys destroyed",
    identities: "身份 identities",
    consents: "授权 consents",
    consent_history: "授权变更 consent history",
    contacts: "联系记录 contacts",
    profile_tags: "标签 tags",
    points_lots: "积分批次 points lots",
    points_ledger: "积分流水 points ledger",
    coupons: "优惠券 coupons",
    profile_merges: "合并记录 merges",
    orders_tombstoned: "订单（保留，去关联） orders kept under a tombstone",
    orders_anonymized: "订单（保留，去地址） orders stripped",
    events: "事件 events",
    events_anonymized: "事件（清空属性） events cleared",
    profiles: "档案 profiles",
    profiles_anonymized: "档案（匿名化） profiles anonymized",
    late_suppressions: "补充屏蔽 late suppressions",
    late_data_keys: "补充销毁密钥 late data keys",
  };

  /** A table of one step's counts: what the receipt says that step did. */
  function counts(rows) {
    const wrap = el("div", null, "table-wrap");
    const table = el("table", null, "dsr-counts");
    const head = el("tr");
    for (const h of ["项目 item", "数量 count"]) head.appendChild(el("th", h));
    table.appendChild(el("thead")).appendChild(head);
    const tbody = table.appendChild(el("tbody"));
    for (const [key, value] of rows) {
      const row = el("tr");
      row.dataset.item = key;
      row.appendChild(el("td", ITEM[key] ? `${ITEM[key]}` : key));
      row.appendChild(el("td", String(value), "dsr-count"));
      tbody.appendChild(row);
    }
    wrap.appendChild(table);
    return wrap;
  }

  function numbers(result) {
    return Object.entries(result || {}).filter(([, v]) => typeof v === "number");
  }

  function receiptPart(step, zh) {
    const part = el("section", null, "dsr-receipt-step");
    part.dataset.step = step;
    part.appendChild(el("h5", zh));
    return part;
  }

  function scan(result) {
    const part = receiptPart("verify", "验证扫描 Verification scan");
    const passed = result && result.clean === true;
    const verdict = el("p", null, `dsr-scan ${passed ? "passed" : "failed"}`);
    verdict.appendChild(el("strong", passed ? "✔ 通过 passed" : "✘ 未通过 failed"));
    verdict.appendChild(document.createTextNode(passed
      ? "：扫描未发现此人的任何残留。 Nothing of the person was found."
      : "：扫描仍发现此人的数据。 The scan still found the person."));
    part.appendChild(verdict);
    const checked = (result && result.checked) || [];
    part.appendChild(el("p", `已检查 ${checked.length} 项，每项统计仍指向此人的记录，全部为 0 才算通过。 ${checked.length} checks, each counting what still names the person; all must be zero:`, "muted"));
    const list = el("ul", null, "dsr-checked");
    for (const name of checked) list.appendChild(el("li", name));
    part.appendChild(list);
    return part;
  }

  /** Shows request `r`'s receipt (or that there is none yet) and its raw JSON. */
  function receipt(r) {
    const root = $("dsr-receipt");
    root.replaceChildren();
    const got = r.receipt || {};
    $("dsr-raw-json").textContent = JSON.stringify(got, null, 2);
    $("dsr-raw").hidden = Object.keys(got).length === 0;
    if (Object.keys(got).length === 0) {
      root.appendChild(el("p", "尚未执行，暂无回执。 Nothing done yet: no receipt.", "muted empty"));
      return;
    }
    if (got.collect) {
      const part = receiptPart("collect", "收集 Collect: 找到的标识 identifiers found");
      // While executing the step holds the identifiers' hashes; once complete, their counts.
      const ids = got.collect.identifiers || Object.fromEntries(Object.entries(got.collect)
        .filter(([, v]) => Array.isArray(v)).map(([k, v]) => [k, v.length]));
      part.appendChild(counts(Object.entries(ids)));
      root.appendChild(part);
    }
    for (const [step, zh] of [["suppress", "屏蔽 Suppress"], ["shred", "销毁密钥 Shred"], ["purge", "清除 Purge: 每张表的行数 rows per table"]]) {
      if (!got[step]) continue;
      const part = receiptPart(step, zh);
      part.appendChild(counts(numbers(got[step])));
      root.appendChild(part);
    }
    if (got.verify) root.appendChild(scan(got.verify));
    else if (r.status === "EXECUTING" && stepIndex(r.step) >= stepIndex("PURGE")) {
      // The scan runs after the purge; a scan that finds something stops the request here
      // (it stays EXECUTING, without a verify step), so until it passes it has not passed.
      const part = receiptPart("verify", "验证扫描 Verification scan");
      part.appendChild(el("p", "尚未通过验证扫描；如执行已中断，请继续执行。 The scan has not passed yet: resume if it stopped.", "dsr-scan waiting"));
      root.appendChild(part);
    }
    if (got.complete) {
      const c = got.complete;
      const part = receiptPart("complete", "完成 Complete");
      part.appendChild(el("p", `${modeWords(c.mode)} · 申请 ${c.requestedBy} · 批准 ${c.approvedBy} · 完成于 ${when(c.completedAt)}`));
      root.appendChild(part);
    }
  }

  window.cdpConsole.parts.requests.receipt = receipt;
})();
