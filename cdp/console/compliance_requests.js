// The compliance desk's data-subject requests (删除与导出): the erasure queue by status, opening
// a request, approval by a second officer (four eyes: the requester's own button says why it is
// refused, and the server refuses it too), the steps' progress live while it executes, the
// receipt with its verification scan, and the export of one person as a JSON file.
// Everything goes through the GraphQL API (cdpConsole.gql); text goes in by textContent only.
"use strict";

(function requestsDesk() {
  const PAGE = 10;
  const POLL_MS = 300;
  // A request is looked for among the newest (the list's order), at most FIND_PAGES pages of
  // FIND_FIRST: the API lists requests and has no query for one.
  const FIND_FIRST = 20;
  const FIND_PAGES = 50;
  const STATUS = {
    PENDING: ["待审批", "pending"],
    EXECUTING: ["执行中", "executing"],
    COMPLETED: ["已完成", "completed"],
  };
  const MODE = {
    DELETE: ["删除", "DELETE", "删除此人的全部个人数据；订单去除个人信息后保留用于记账。"],
    ANONYMIZE: ["匿名化", "ANONYMIZE", "保留去标识化的档案（等级、订单）供统计，清除全部个人信息。"],
  };
  // In order: the step the API reports is the last one done.
  const STEPS = [
    ["REQUESTED", "已申请", "requested", "等待另一位合规专员批准。"],
    ["COLLECT", "收集", "collect", "找出并统计此人的全部记录与标识。"],
    ["SUPPRESS", "屏蔽", "suppress", "标识的哈希加入屏蔽名单，之后的写入一律拒绝。"],
    ["SHRED", "销毁密钥", "shred", "先写入删除日志，再销毁此人的数据密钥（备份中的密文随之不可解）。"],
    ["PURGE", "清除", "purge", "删除或去标识化此人的记录。"],
    ["VERIFY", "验证", "verify", "扫描确认没有任何残留。"],
    ["COMPLETE", "完成", "complete", "回执已生成。"],
  ];
  const STEP_STATE = {
    done: "已完成 done",
    running: "进行中 running",
    waiting: "待执行 waiting",
  };
  // What the receipt's counts are of, in words (the raw JSON below keeps the API's names).
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
  const FIELDS = "id profileSurrogateId mode status reason requestedBy requestedAt dueAt approvedBy approvedAt completedAt step";
  const QUEUE = `query DeskErasureQueue($status: ErasureStatus, $first: Int!, $after: String) {
    erasureRequests(status: $status, first: $first, after: $after) {
      items { ${FIELDS} } pageInfo { endCursor hasNextPage } } }`;
  const FIND = `query DeskErasureRequest($first: Int!, $after: String) {
    erasureRequests(first: $first, after: $after) {
      items { ${FIELDS} receipt } pageInfo { endCursor hasNextPage } } }`;
  const REQUEST = `mutation DeskRequestErasure($input: RequestErasureInput!) {
    requestErasure(input: $input) { ${FIELDS} receipt } }`;
  const APPROVE = `mutation DeskApproveErasure($input: ApproveErasureInput!) {
    approveErasure(input: $input) { ${FIELDS} receipt } }`;
  const EXPORT = `mutation DeskExportProfile($input: ExportProfileInput!) {
    exportProfile(input: $input) { generatedAt document } }`;

  const api = window.cdpConsole;
  const queue = { status: null, cursor: null, loading: 0 };
  // The request on screen, whether its approval is in flight, and the poll's timer.
  const view = { id: null, request: null, approving: false, timer: null, generation: 0 };
  let session = null;
  let downloadUrl = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function hint(text) { return Object.assign(el("small", text), { lang: "en" }); }
  function when(t) { return t ? new Date(t).toLocaleString("zh-CN") : "—"; }
  function statusWords(s) { return STATUS[s] ? `${STATUS[s][0]} ${STATUS[s][1]}` : s; }
  function modeWords(m) { return MODE[m] ? `${MODE[m][0]} ${MODE[m][1]}` : m; }
  function stepIndex(step) { return STEPS.findIndex((s) => s[0] === step); }
  function stepWords(step) {
    const s = STEPS[stepIndex(step)];
    return s ? `${s[1]} ${s[2]}` : step;
  }
  function overdue(r) { return r.status !== "COMPLETED" && new Date(r.dueAt).getTime() < Date.now(); }
  function say(id, text, cls) {
    const line = $(id);
    line.textContent = text;
    line.className = `status ${cls || ""}`;
  }
  function overdueBadge() {
    const badge = el("span", "逾期 ", "dsr-badge overdue");
    badge.appendChild(hint("overdue"));
    return badge;
  }
  function statusBadge(s) {
    const badge = el("span", `${STATUS[s] ? STATUS[s][0] : s} `, `dsr-badge ${String(s).toLowerCase()}`);
    if (STATUS[s]) badge.appendChild(hint(STATUS[s][1]));
    return badge;
  }

  /* -- the queue -- */

  // Each cell names its column, so that a narrow screen can show a row as a card.
  const COLUMNS = ["申请 request", "状态 status", "方式 mode", "原因 reason", "申请人 requested by", "申请时间 requested", "截止 due", "步骤 step"];

  function queueRow(r) {
    const row = el("tr");
    row.dataset.request = r.id;
    row.dataset.status = r.status;
    const link = el("a", `${r.id.slice(0, 8)}…`);
    link.href = `#/requests/${r.id}`;
    link.title = r.id;
    link.setAttribute("aria-label", `打开申请 open request ${r.id}`);
    const first = el("td");
    first.appendChild(link);
    row.appendChild(first);
    row.appendChild(el("td")).appendChild(statusBadge(r.status));
    row.appendChild(el("td", modeWords(r.mode)));
    row.appendChild(el("td", r.reason, "dsr-reason"));
    row.appendChild(el("td", r.requestedBy));
    row.appendChild(el("td", when(r.requestedAt)));
    const due = el("td", `${when(r.dueAt)} `);
    if (overdue(r)) {
      row.classList.add("overdue");
      due.appendChild(overdueBadge());
    }
    row.appendChild(due);
    row.appendChild(el("td", stepWords(r.step)));
    Array.from(row.cells).forEach((cell, n) => { cell.dataset.label = COLUMNS[n]; });
    if (r.id === view.id) row.setAttribute("aria-current", "true");
    return row;
  }

  async function loadQueue(more) {
    const ticket = ++queue.loading;
    const body = $("dsr-queue").tBodies[0];
    $("dsr-queue-more").disabled = true;
    $("dsr-queue").setAttribute("aria-busy", "true");
    if (!more) $("dsr-queue-empty").hidden = true;
    say("dsr-queue-status", "正在加载… Loading…", "busy");
    try {
      const variables = { status: queue.status, first: PAGE, after: more ? queue.cursor : null };
      const page = (await api.gql(QUEUE, variables)).erasureRequests;
      if (ticket !== queue.loading) return; // a newer filter was chosen meanwhile
      if (!more) body.replaceChildren();
      for (const r of page.items) body.appendChild(queueRow(r));
      queue.cursor = page.pageInfo.endCursor;
      $("dsr-queue-more").hidden = !page.pageInfo.hasNextPage;
      $("dsr-queue-empty").hidden = body.rows.length > 0;
      const late = body.querySelectorAll("tr.overdue").length;
      say("dsr-queue-status", late ? `其中 ${late} 件已逾期。 ${late} overdue.` : "", late ? "problem" : "");
    } catch (error) {
      if (ticket === queue.loading) say("dsr-queue-status", error.message, "problem");
    } finally {
      if (ticket === queue.loading) {
        $("dsr-queue-more").disabled = false;
        $("dsr-queue").removeAttribute("aria-busy");
      }
    }
  }

  function filter(status) {
    queue.status = status || null;
    for (const button of document.querySelectorAll("#desk-requests .dsr-filters [data-status]")) {
      button.setAttribute("aria-pressed", String(button.dataset.status === (status || "")));
    }
    loadQueue(false);
  }

  /* -- one request -- */

  /** The request with this id, or null. */
  async function find(id) {
    let after = null;
    for (let n = 0; n < FIND_PAGES; n += 1) {
      const page = (await api.gql(FIND, { first: FIND_FIRST, after })).erasureRequests;
      const found = page.items.find((r) => r.id === id);
      if (found) return found;
      if (!page.pageInfo.hasNextPage) return null;
      after = page.pageInfo.endCursor;
    }
    return null;
  }

  function facts(r) {
    const dl = $("dsr-facts");
    dl.replaceChildren();
    const due = el("dd", `${when(r.dueAt)} `);
    if (overdue(r)) due.appendChild(overdueBadge());
    const status = el("dd");
    status.appendChild(statusBadge(r.status));
    const pairs = [
      ["申请编号 request id", el("dd", r.id)],
      ["状态 status", status],
      ["方式 mode", el("dd", `${modeWords(r.mode)}：${MODE[r.mode] ? MODE[r.mode][2] : ""}`)],
      ["原因 reason", el("dd", r.reason)],
      ["内部编号 surrogate id", el("dd", String(r.profileSurrogateId))],
      ["申请人 requested by", el("dd", r.requestedBy)],
      ["申请时间 requested", el("dd", when(r.requestedAt))],
      ["截止 due", due],
      ["批准人 approved by", el("dd", r.approvedBy || "—")],
      ["批准时间 approved", el("dd", when(r.approvedAt))],
      ["完成时间 completed", el("dd", when(r.completedAt))],
    ];
    for (const [term, value] of pairs) {
      dl.appendChild(el("dt", term));
      dl.appendChild(value);
    }
  }

  function approveButton(r) {
    const button = $("dsr-approve");
    const why = $("dsr-approve-why");
    button.hidden = r.status === "COMPLETED";
    button.replaceChildren(r.status === "EXECUTING" ? "继续执行 " : "批准并执行 ", hint(r.status === "EXECUTING" ? "Resume" : "Approve and execute"));
    const own = session && r.requestedBy === session.person;
    button.disabled = own || view.approving;
    why.className = "dsr-why";
    if (r.status === "COMPLETED") {
      why.textContent = `已由 ${r.approvedBy || "—"} 批准并执行完毕。 Approved and done.`;
    } else if (own) {
      why.textContent = "需要另一位合规专员审批：你是本申请的申请人（四眼原则），不能自己批准。 A second compliance officer must approve: you requested it (four eyes).";
      why.classList.add("refused");
    } else if (r.status === "EXECUTING") {
      why.textContent = "已批准，正在执行；如执行中断，可继续执行直到完成。 Approved and executing; resume if it was interrupted.";
    } else {
      why.textContent = "批准后立即执行以下步骤，不可撤销。 Approval runs the steps below at once; it cannot be undone.";
    }
  }

  function steps(r) {
    const list = $("dsr-steps");
    list.replaceChildren();
    const last = stepIndex(r.step);
    const moving = r.status === "EXECUTING" || view.approving;
    STEPS.forEach(([step, zh, en, what], n) => {
      let state = n <= last ? "done" : "waiting";
      if (n === last + 1 && moving && r.status !== "PENDING") state = "running";
      if (n === last + 1 && view.approving && r.status === "PENDING") state = "running";
      const item = el("li", null, `dsr-step ${state}`);
      item.dataset.step = step;
      item.dataset.state = state;
      if (state === "running") item.setAttribute("aria-current", "step");
      const name = el("span", `${zh} `, "dsr-step-name");
      name.appendChild(hint(en));
      item.appendChild(name);
      item.appendChild(el("span", STEP_STATE[state], "dsr-step-state"));
      item.appendChild(el("span", what, "dsr-step-what muted"));
      list.appendChild(item);
    });
  }

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

  function render(r) {
    view.request = r;
    $("dsr-detail-body").hidden = false;
    facts(r);
    approveButton(r);
    steps(r);
    receipt(r);
    const row = $("dsr-queue").querySelector(`tr[data-request="${CSS.escape(r.id)}"]`);
    if (row) row.replaceWith(queueRow(r));
  }

  function stopPolling() {
    if (view.timer) clearTimeout(view.timer);
    view.timer = null;
  }

  function onScreen(id) {
    // Hidden itself (another desk) or with the page (signed out): left either way.
    const shown = !$("desk-requests").closest("[hidden]");
    return view.id === id && shown && location.hash === `#/requests/${id}`;
  }

  /** Poll while the request executes or its approval is in flight; stop when done or left. */
  function poll() {
    stopPolling();
    const id = view.id;
    const generation = view.generation;
    const moving = view.approving || (view.request && view.request.status === "EXECUTING");
    if (!id || !moving || !onScreen(id)) return;
    view.timer = setTimeout(async () => {
      view.timer = null;
      if (generation !== view.generation || !onScreen(id)) return;
      try {
        const found = await find(id);
        if (generation !== view.generation) return;
        say("dsr-detail-status", found ? "" : `查无此申请 ${id}。 No such request.`, found ? "" : "problem");
        if (found) render(found);
      } catch (error) {
        say("dsr-detail-status", error.message, "problem");
        if (error.code === "UNAUTHENTICATED") return; // the shell is back at sign-in
      }
      if (generation === view.generation) poll();
    }, POLL_MS);
  }

  async function show(id) {
    stopPolling();
    view.generation += 1;
    view.id = id;
    view.request = null;
    view.approving = false;
    const generation = view.generation;
    $("dsr-detail").hidden = false;
    $("dsr-detail-body").hidden = true;
    say("dsr-approve-status", "");
    say("dsr-detail-status", "正在加载… Loading…", "busy");
    for (const row of $("dsr-queue").querySelectorAll("tr[aria-current]")) row.removeAttribute("aria-current");
    try {
      const found = await find(id);
      if (generation !== view.generation) return;
      if (!found) {
        say("dsr-detail-status", `查无此申请 ${id}。 No such request.`, "problem");
        return;
      }
      say("dsr-detail-status", "");
      render(found);
      poll();
    } catch (error) {
      if (generation === view.generation) say("dsr-detail-status", error.message, "problem");
    }
  }

  function hide() {
    stopPolling();
    view.generation += 1;
    view.id = null;
    view.request = null;
    $("dsr-detail").hidden = true;
  }

  async function approve() {
    const r = view.request;
    if (!r || view.approving) return;
    const generation = view.generation;
    view.approving = true;
    render(r);
    say("dsr-approve-status", "正在执行，步骤完成后即时更新… Executing: the steps update as they finish…", "busy");
    poll();
    try {
      const data = await api.gql(APPROVE, { input: { requestId: r.id } });
      if (generation !== view.generation) return;
      view.approving = false;
      render(data.approveErasure);
      say("dsr-approve-status", "已批准并执行完毕，回执见下。 Approved and done: the receipt is below.", "ok");
      loadQueue(false);
    } catch (error) {
      if (generation !== view.generation) return;
      view.approving = false;
      // The server's refusal in words: CONFLICT for four eyes, whatever the button said.
      const lead = error.code === "CONFLICT" ? "服务端拒绝 The server refused" : "未能完成 Not done";
      say("dsr-approve-status", `${lead}: ${error.message}`, "problem");
      if (view.request) render(view.request);
    } finally {
      if (generation === view.generation) {
        view.approving = false;
        poll();
      }
    }
  }

  /* -- the forms -- */

  function required(fields, statusId) {
    for (const [id, words] of fields) {
      const filled = $(id).value.trim() !== "";
      $(id).setAttribute("aria-invalid", filled ? "false" : "true");
      if (!filled) {
        say(statusId, words, "problem");
        $(id).focus();
        return false;
      }
    }
    return true;
  }

  async function requestErasure(event) {
    event.preventDefault();
    const ok = required([
      ["dsr-new-profile", "请填写会员编号。 A profile id is required."],
      ["dsr-new-reason", "请填写原因。 A reason is required."],
    ], "dsr-new-status");
    if (!ok) return;
    const form = $("dsr-new");
    const input = {
      profileId: $("dsr-new-profile").value.trim(),
      mode: form.querySelector("input[name=mode]:checked").value,
      reason: $("dsr-new-reason").value.trim(),
    };
    $("dsr-new-go").disabled = true;
    form.setAttribute("aria-busy", "true");
    say("dsr-new-status", "正在提交… Submitting…", "busy");
    try {
      const created = (await api.gql(REQUEST, { input })).requestErasure;
      say("dsr-new-status", `已提交申请 ${created.id}，等待另一位合规专员批准。 Requested: a second officer approves.`, "ok");
      $("dsr-new-reason").value = "";
      loadQueue(false);
      location.hash = `#/requests/${created.id}`;
    } catch (error) {
      say("dsr-new-status", error.message, "problem");
      if (error.code === "BAD_USER_INPUT" || error.code === "NOT_FOUND" || error.code === "SUPPRESSED") {
        $("dsr-new-profile").setAttribute("aria-invalid", "true");
      }
    } finally {
      $("dsr-new-go").disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  async function exportProfile(event) {
    event.preventDefault();
    const ok = required([
      ["dsr-export-profile", "请填写会员编号。 A profile id is required."],
      ["dsr-export-purpose", "请填写导出目的。 A purpose is required."],
    ], "dsr-export-status");
    if (!ok) return;
    const profileId = $("dsr-export-profile").value.trim();
    const link = $("dsr-download");
    link.hidden = true;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    link.removeAttribute("href");
    $("dsr-export-go").disabled = true;
    $("dsr-export").setAttribute("aria-busy", "true");
    say("dsr-export-status", "正在导出… Exporting…", "busy");
    try {
      const input = { profileId, purpose: $("dsr-export-purpose").value.trim() };
      const made = (await api.gql(EXPORT, { input })).exportProfile;
      const text = JSON.stringify(made.document, null, 2);
      downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const day = new Date(made.generatedAt).toISOString().slice(0, 10);
      link.href = downloadUrl;
      link.download = `cdp-export-${profileId.replace(/[^\w.-]/g, "_")}-${day}.json`;
      link.hidden = false;
      say("dsr-export-status", `已生成（${when(made.generatedAt)}，${text.length} 字符），请下载 ${link.download}。 Ready to download.`, "ok");
      link.focus();
    } catch (error) {
      say("dsr-export-status", error.message, "problem");
      if (error.code === "BAD_USER_INPUT" || error.code === "NOT_FOUND" || error.code === "SUPPRESSED") {
        $("dsr-export-profile").setAttribute("aria-invalid", "true");
      }
    } finally {
      $("dsr-export-go").disabled = false;
      $("dsr-export").removeAttribute("aria-busy");
    }
  }

  /* -- the desk -- */

  let ready = false;
  function setUp() {
    ready = true;
    for (const button of document.querySelectorAll("#desk-requests .dsr-filters [data-status]")) {
      button.addEventListener("click", () => filter(button.dataset.status));
    }
    $("dsr-refresh").addEventListener("click", () => loadQueue(false));
    $("dsr-queue-more").addEventListener("click", () => loadQueue(true));
    $("dsr-approve").addEventListener("click", approve);
    $("dsr-reload").addEventListener("click", () => { if (view.id) show(view.id); });
    $("dsr-new").addEventListener("submit", requestErasure);
    $("dsr-export").addEventListener("submit", exportProfile);
    // Leaving the desk (or the request) stops the poll at once.
    window.addEventListener("hashchange", () => {
      if (view.id && location.hash !== `#/requests/${view.id}`) stopPolling();
    });
  }

  api.desks.requests = function open(current, rest) {
    session = current;
    if (!ready) setUp();
    loadQueue(false);
    const id = rest ? decodeURIComponent(rest).trim() : null;
    if (!id) {
      hide();
      return;
    }
    show(id).then(() => {
      const detail = $("dsr-detail");
      if (!detail.hidden) detail.focus({ preventScroll: false });
    });
  };
})();
