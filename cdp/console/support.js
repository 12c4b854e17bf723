// The support desk (客服工作台): find one customer by phone, UnionID, OpenID or member id for a
// stated purpose (ticket and reason, kept in the audit log), and show the profile as the API
// returns it to support: masked by the server, never a field support may not read.
"use strict";

(function supportDesk() {
  const CHANNEL = { MINI_PROGRAM: "小程序", OFFICIAL_ACCOUNT: "公众号", CHANNELS: "视频号", WEB: "网页", SMS: "短信" };
  const PURPOSE = { MARKETING: "营销 marketing", ACTIVITY_NOTIFICATIONS: "活动通知 activity", PERSONALIZATION: "个性化 personalization", ANALYTICS: "分析 analytics" };
  const TIER = { STANDARD: "普通会员 standard", VIP: "VIP 会员 VIP", SUPREME: "至尊会员 supreme" };
  const COUPON = { AVAILABLE: "可用 available", UPCOMING: "未生效 upcoming", REDEEMED: "已使用 redeemed", EXPIRED: "已过期 expired" };
  const ORDER = { PAID: "已付款 paid", SHIPPED: "已发货 shipped", COMPLETED: "已完成 completed", REFUNDED: "已退款 refunded" };
  const POINTS = { EARN: "获得 earn", SPEND: "使用 spend", EXPIRE: "过期 expire", ADJUST: "调整 adjust" };
  const CONTACT = { CONSENTED: "已同意 consented", DEFAULT: "默认允许 default", NO_CONSENT: "未同意 no consent", OPTED_OUT: "已退订 opted out", FREQUENCY_CAP: "超出频次 frequency cap", SUPPRESSED: "已屏蔽 suppressed" };
  // The usual pairs a support agent is asked about: SupportLookup's canContact c0..c4, in this
  // order (cdp/console/documents.graphql).
  const USUAL = [["MARKETING", "SMS"], ["MARKETING", "MINI_PROGRAM"], ["MARKETING", "OFFICIAL_ACCOUNT"], ["ACTIVITY_NOTIFICATIONS", "MINI_PROGRAM"], ["ACTIVITY_NOTIFICATIONS", "SMS"]];
  // Each list's next page: its trusted document, and where its page is in the answer.
  const MORE = {
    ledger: ["SupportMoreLedger", (p) => p.points.history],
    coupons: ["SupportMoreCoupons", (p) => p.coupons],
    orders: ["SupportMoreOrders", (p) => p.orders],
    changes: ["SupportMoreChanges", (p) => p.consents.history],
  };
  const ROWS = {
    ledger: (e) => [POINTS[e.kind] || e.kind, signed(e.points), String(e.balanceAfter), e.reason || "—", channel(e.channel), when(e.createdAt), when(e.expiresAt)],
    coupons: (c) => [c.title, COUPON[c.status] || c.status, c.percentOff ? `${c.percentOff}% off` : yuan(c.discountFen), yuan(c.minSpendFen), c.channels.map(channel).join("、"), when(c.validUntil), c.redeemedAt ? `${when(c.redeemedAt)} ${channel(c.redeemedChannel)}` : "—"],
    orders: (o) => [o.externalId, when(o.paidAt), ORDER[o.status] || o.status, channel(o.channel), o.entryFrom || "—", o.items.map((i) => `${i.name} ×${i.quantity}（${yuan(i.amountFen)}）`).join("；"), yuan(o.totalFen)],
    changes: (h) => [when(h.changedAt), PURPOSE[h.purpose] || h.purpose, h.channel ? channel(h.channel) : "全部渠道 all", h.granted ? "同意 yes" : "拒绝 no", h.noticeVersion || "—", channel(h.sourceChannel), h.changedBy],
  };
  const HEADS = {
    ledger: ["类型 kind", "积分 points", "余额 balance", "原因 reason", "渠道 channel", "时间 when", "到期 expires"],
    coupons: ["券 coupon", "状态 status", "优惠 discount", "门槛 min spend", "渠道 channels", "有效至 valid until", "使用 redeemed"],
    orders: ["订单号 order", "付款 paid", "状态 status", "渠道 channel", "来源 entry", "商品 items", "金额 total"],
    changes: ["时间 when", "用途 purpose", "渠道 channel", "选择 choice", "告知版本 notice", "来源 source", "记录人 by"],
  };
  const api = window.cdpConsole;
  const { el, when, yuan } = api.dom;
  let current = null; // {id, purpose, lists: {name: {tbody, more, cursor}}, couponStatus}
  let session = null;

  function $(id) { return document.getElementById(id); }
  function signed(n) { return n > 0 ? `+${n}` : String(n); }
  function channel(c) { return c ? `${CHANNEL[c] || c} ${c}` : "—"; }
  function status(text, cls) {
    const line = $("lookup-status");
    line.textContent = text;
    line.className = `status ${cls || ""}`;
  }

  function section(title, hint) {
    const box = el("section", null, "card-part");
    const h = el("h3", `${title} `);
    h.appendChild(Object.assign(el("small", hint), { lang: "en" }));
    box.appendChild(h);
    return box;
  }

  function facts(pairs) {
    const dl = el("dl", null, "facts");
    for (const [term, value] of pairs) {
      dl.appendChild(el("dt", term));
      dl.appendChild(el("dd", value));
    }
    return dl;
  }

  /** A table of one list, its rows, and its "更多 / more" button when there is a next page. */
  function list(name, page) {
    const wrap = el("div", null, "table-wrap");
    const table = el("table");
    const head = el("tr");
    for (const h of HEADS[name]) head.appendChild(el("th", h));
    table.appendChild(el("thead")).appendChild(head);
    const tbody = table.appendChild(el("tbody"));
    wrap.appendChild(table);
    const empty = el("p", "暂无记录。 None.", "muted empty");
    wrap.appendChild(empty);
    const more = el("button", "更多 / more", "secondary more");
    more.type = "button";
    more.dataset.list = name;
    more.addEventListener("click", () => loadMore(name));
    wrap.appendChild(more);
    current.lists[name] = { tbody, more, empty, cursor: null };
    fill(name, page);
    return wrap;
  }

  function fill(name, page) {
    const target = current.lists[name];
    for (const item of page.items) {
      const row = el("tr");
      for (const cell of ROWS[name](item)) row.appendChild(el("td", cell));
      target.tbody.appendChild(row);
    }
    target.cursor = page.pageInfo.endCursor;
    target.more.hidden = !page.pageInfo.hasNextPage;
    target.empty.hidden = target.tbody.children.length > 0;
  }

  async function loadMore(name, reset) {
    const [trusted, pick] = MORE[name];
    const target = current.lists[name];
    const coupons = name === "coupons";
    const variables = { purpose: current.purpose, id: current.id, after: reset ? null : target.cursor };
    if (coupons) variables.status = current.couponStatus;
    target.more.disabled = true;
    status("正在加载… Loading…", "busy");
    try {
      const data = await api.gql(trusted, variables);
      if (reset) target.tbody.replaceChildren();
      fill(name, pick(data.profile));
      status("");
    } catch (error) {
      status(error.message, "problem");
    } finally {
      target.more.disabled = false;
    }
  }

  function consentGrid(states) {
    const wrap = el("div", null, "table-wrap");
    const table = el("table");
    const head = el("tr");
    for (const h of ["用途 purpose", "渠道 channel", "状态 state", "明确选择 explicit", "告知版本 notice", "来源 source", "更新 updated"]) head.appendChild(el("th", h));
    table.appendChild(el("thead")).appendChild(head);
    const tbody = table.appendChild(el("tbody"));
    for (const s of states) {
      const row = el("tr");
      for (const cell of [PURPOSE[s.purpose] || s.purpose, channel(s.channel), s.granted ? "允许 granted" : "不允许 refused", s.explicit ? "是 yes" : "默认 default", s.noticeVersion || "—", channel(s.sourceChannel), when(s.updatedAt)]) row.appendChild(el("td", cell));
      if (!s.granted) row.className = "refused";
      tbody.appendChild(row);
    }
    wrap.appendChild(table);
    return wrap;
  }

  /** What the server's canContact answers for the usual pairs (asked with the lookup). */
  function contactAnswers(profile) {
    const ul = el("ul", null, "contact");
    USUAL.forEach(([p, c], n) => {
      const d = profile[`c${n}`];
      const item = el("li", `${PURPOSE[p]} · ${channel(c)}：${d ? (d.allowed ? "可以联系 allowed" : "不可联系 refused") : "—"}${d && d.reason ? `（${CONTACT[d.reason] || d.reason}）` : ""}`);
      if (d && !d.allowed) item.className = "refused";
      ul.appendChild(item);
    });
    return ul;
  }

  /** The spend behind the tier, in words: 近 12 个月已付款 ¥1,200.00，距至尊会员还差 ¥3,800.00. */
  function tierWords(progress) {
    const spent = `近 12 个月已付款消费 ${yuan(progress.spendFen)}`;
    if (!progress.nextTier) return `${spent}（已是最高等级 top tier）`;
    const short = progress.nextTierFen - progress.spendFen;
    return `${spent}，距${TIER[progress.nextTier]}（${yuan(progress.nextTierFen)}）还差 ${yuan(short)}`;
  }

  /** Compliance's way on to the request desk's forms, filled in for this person. */
  function requestLinks(id) {
    const links = el("p", null, "buttons card-requests");
    for (const [zh, en] of [["导出此人数据", "export"], ["申请删除", "request erasure"]]) {
      const link = Object.assign(el("a", `${zh} `, "button"), { href: `#/requests/new/${encodeURIComponent(id)}` });
      link.appendChild(Object.assign(el("small", en), { lang: "en" }));
      links.appendChild(link);
    }
    return links;
  }

  function card(profile) {
    const root = $("card");
    root.replaceChildren();
    const who = section("客户资料", "Profile (as the server shows it to support)");
    const place = profile.address ? [profile.address.province, profile.address.city].filter(Boolean).join(" ") : "";
    who.appendChild(facts([
      ["会员编号 member id", profile.id],
      ["姓名 name", profile.name || "—"],
      ["手机 phone", profile.phone || "—"],
      ["省市 province / city", place || "—"],
      ["等级 tier", TIER[profile.tier] || profile.tier],
      ["消费 spend (12 months)", tierWords(profile.tierProgress)],
      ["注册 since", when(profile.createdAt)],
      ["积分余额 points", String(profile.points.balance)],
    ]));
    who.appendChild(el("p", "等级按近 12 个月已付款消费计算（退款不计）。 Tier follows paid spend over the last 12 months, refunds excluded.", "muted"));
    if (session && session.role === "compliance") who.appendChild(requestLinks(profile.id));
    root.appendChild(who);

    const points = section("积分流水", "Points ledger");
    points.appendChild(list("ledger", profile.points.history));
    root.appendChild(points);

    const coupons = section("优惠券", "Coupons by status");
    const label = el("label", "状态 status ");
    const select = el("select");
    select.id = "coupon-status";
    label.htmlFor = "coupon-status";
    select.appendChild(Object.assign(el("option", "全部 all"), { value: "" }));
    for (const [value, words] of Object.entries(COUPON)) select.appendChild(Object.assign(el("option", words), { value }));
    select.addEventListener("change", () => {
      current.couponStatus = select.value || null;
      loadMore("coupons", true);
    });
    coupons.appendChild(label);
    coupons.appendChild(select);
    coupons.appendChild(list("coupons", profile.coupons));
    root.appendChild(coupons);

    const orders = section("订单", "Orders, every channel");
    orders.appendChild(list("orders", profile.orders));
    root.appendChild(orders);

    const consent = section("授权", "Consent per purpose and channel");
    consent.appendChild(consentGrid(profile.consents.current));
    consent.appendChild(el("h4", "变更记录 History"));
    consent.appendChild(list("changes", profile.consents.history));
    root.appendChild(consent);

    const contact = section("可否联系", "canContact, the usual channels");
    contact.appendChild(contactAnswers(profile));
    root.appendChild(contact);
    root.hidden = false;
  }

  async function lookup(event) {
    event.preventDefault();
    const kind = $("key-kind").value;
    const value = $("key-value").value.trim();
    const ticket = $("ticket").value.trim();
    const reason = $("reason").value.trim();
    for (const [field, filled, words] of [["key-value", value, "请填写查找内容。 Enter what to look up."], ["ticket", ticket, "请填写工单号。 A ticket number is required."], ["reason", reason, "请填写查询原因。 A reason is required."]]) {
      $(field).setAttribute("aria-invalid", filled ? "false" : "true");
      if (!filled) {
        status(words, "problem");
        $(field).focus();
        return;
      }
    }
    const purpose = `工单 ${ticket}: ${reason}`;
    const variables = { purpose, [kind]: value };
    const appId = $("app-id").value.trim();
    if (kind === "openId" && appId) variables.appId = appId;
    $("card").hidden = true;
    $("card").replaceChildren();
    $("lookup-go").disabled = true;
    $("lookup").setAttribute("aria-busy", "true");
    status("正在查找… Looking up…", "busy");
    try {
      const data = await api.gql("SupportLookup", variables);
      if (!data.profile) {
        status("查无此人。 Nobody matches (this miss counts towards your lookup cap).", "empty");
        return;
      }
      current = { id: data.profile.id, purpose, lists: {}, couponStatus: null };
      status(`已找到（目的：${purpose}）。 Found.`, "ok");
      card(data.profile);
    } catch (error) {
      status(error.code === "NOT_FOUND" ? "查无此人。 Nobody matches." : error.message, "problem");
    } finally {
      $("lookup-go").disabled = false;
      $("lookup").removeAttribute("aria-busy");
    }
  }

  let ready = false;
  api.desks.support = function open(opened) {
    session = opened;
    if (ready) return;
    ready = true;
    $("lookup").addEventListener("submit", lookup);
    $("key-kind").addEventListener("change", () => {
      $("app-id-field").hidden = $("key-kind").value !== "openId";
    });
    $("key-value").focus();
  };
})();
