// The audit log (合规 · 审计日志): compliance filters the log (actor, role, action, profile,
// time range, outcome), pages through it newest first, opens a record, and has the server
// check the whole chain (auditLogVerification). Reading and checking are audited by the server.
"use strict";

(function auditDesk() {
  const PAGE = 20;
  const ROLES = { CUSTOMER: "客户", SUPPORT: "客服", ANALYST: "数据分析", MARKETER: "营销", COMPLIANCE: "合规", SERVICE: "后端服务", OPERATOR: "运维（命令行）", UNVERIFIED: "未验证的令牌", STAFF: "员工（登录中）" };
  const OUTCOMES = { OK: "成功", REPLAYED: "重放", NOT_TAGGED: "未打标签", REFUSED: "已拒绝", THROTTLED: "已限流（此后仅计数）", FLAGGED: "已标记", BROKEN: "校验失败", ERROR: "出错", UNAUTHENTICATED: "未认证", FORBIDDEN: "无权限", NOT_FOUND: "未找到", BAD_USER_INPUT: "输入有误", CONFLICT: "冲突", SUPPRESSED: "已屏蔽", QUERY_TOO_COMPLEX: "超出限制", INTERNAL: "内部错误" };
  // Words for the actions, in the groups the filter offers; any other action shows its name.
  const ACTIONS = {
    PII_READ: "读取个人信息", PROFILE_LOOKUP: "查找客户", PROFILE_LIST: "列出客户", PROFILE_UPDATE: "修改资料", PROFILE_MERGE: "合并客户", IDENTITY_LINK: "绑定身份", IDENTITY_REVIEW: "合并待审核", IDENTITY_REVIEW_LIST: "查看合并审核", IDENTITY_REVIEW_RESOLVE: "处理合并审核", PROFILE_ALIAS: "旧客户号解析", TIER_CHANGE: "等级变化",
    POINTS_EARN: "获得积分", POINTS_SPEND: "使用积分", POINTS_ADJUST: "调整积分", POINTS_EXPIRE: "积分过期", COUPON_ISSUE: "发券", COUPON_REDEEM: "核销券", ORDER_RECORD: "记录订单", ORDER_STATUS: "订单状态", TAG_ADD: "打标签", TAG_REMOVE: "去标签", CONSENT_UPDATE: "更新授权", CONTACT_RECORD: "记录触达", EVENT_RECORD: "记录事件",
    EXPORT: "导出个人数据", ERASURE_REQUEST: "申请删除", ERASURE_APPROVE: "批准删除", ERASURE_RESUME: "继续删除", ERASURE_LIST: "查看删除请求", ERASURE_COLLECT: "删除·清点", ERASURE_SUPPRESS: "删除·屏蔽", ERASURE_SHRED: "删除·销毁密钥", ERASURE_PURGE: "删除·清除", ERASURE_VERIFY: "删除·核验", ERASURE_EXECUTE: "删除完成", ERASURE_REPLAY: "删除日志重放", SUPPRESSION_LIFT: "解除屏蔽", SUPPRESSION_READ: "查询屏蔽名单",
    ANALYTICS_READ: "读取统计", AUDIT_READ: "读取审计日志", AUDIT_VERIFY: "校验审计日志", AUDIT_CHECKPOINT: "审计检查点", AUDIT_GAP: "审计空号（写入已回滚）", AUDIT_NOTE: "审计签名注记", AUDIT_PROVE: "审计证明", AUDIT_KEY_ROTATE: "轮换审计签名密钥", KEY_ROTATE: "轮换密钥", KEY_REWRAP: "重新封装密钥", KEY_RETIRE: "停用密钥",
    AUTH_TOKEN: "令牌被拒", AUTH_WECHAT: "微信登录", WECHAT_PUSH: "微信消息推送", STAFF_SIGN_IN: "员工登录", STAFF_ROLE: "选择角色", STAFF_SIGN_OUT: "员工退出", STAFF_REVOKE: "撤销会话", STAFF_SESSION_END: "会话结束", STAFF_LIST: "查看员工会话", SERVICE_TOKEN: "服务令牌", SERVICE_ACCOUNT_CREATE: "创建服务账号", SERVICE_ACCOUNT_ROTATE: "轮换服务账号", SERVICE_ACCOUNT_REVOKE: "撤销服务账号", LOOKUP_THROTTLED: "查询被限流", LOOKUP_ENUMERATION_SUSPECTED: "疑似批量查询", DOCUMENT_REFUSED: "文档被拒（未登记或角色不符）",
  };
  const GROUPS = [
    ["客户数据 Customer data", ["PII_READ", "PROFILE_LOOKUP", "PROFILE_LIST", "PROFILE_UPDATE", "PROFILE_MERGE", "IDENTITY_LINK", "IDENTITY_REVIEW", "PROFILE_ALIAS", "TIER_CHANGE", "POINTS_EARN", "POINTS_SPEND", "POINTS_ADJUST", "POINTS_EXPIRE", "COUPON_ISSUE", "COUPON_REDEEM", "ORDER_RECORD", "ORDER_STATUS", "TAG_ADD", "TAG_REMOVE", "CONSENT_UPDATE", "CONTACT_RECORD", "EVENT_RECORD"]],
    ["合规 Compliance", ["EXPORT", "ERASURE_REQUEST", "ERASURE_APPROVE", "ERASURE_RESUME", "ERASURE_LIST", "ERASURE_COLLECT", "ERASURE_SUPPRESS", "ERASURE_SHRED", "ERASURE_PURGE", "ERASURE_VERIFY", "ERASURE_EXECUTE", "ERASURE_REPLAY", "SUPPRESSION_LIFT", "SUPPRESSION_READ", "ANALYTICS_READ", "IDENTITY_REVIEW_LIST", "IDENTITY_REVIEW_RESOLVE", "AUDIT_READ", "AUDIT_VERIFY", "AUDIT_CHECKPOINT", "AUDIT_GAP", "AUDIT_NOTE", "AUDIT_PROVE", "AUDIT_KEY_ROTATE"]],
    ["密钥与登录 Keys and sign-in", ["KEY_ROTATE", "KEY_REWRAP", "KEY_RETIRE", "AUTH_TOKEN", "AUTH_WECHAT", "WECHAT_PUSH", "STAFF_SIGN_IN", "STAFF_ROLE", "STAFF_SIGN_OUT", "STAFF_REVOKE", "STAFF_SESSION_END", "STAFF_LIST", "SERVICE_TOKEN", "SERVICE_ACCOUNT_CREATE", "SERVICE_ACCOUNT_ROTATE", "SERVICE_ACCOUNT_REVOKE", "LOOKUP_THROTTLED", "LOOKUP_ENUMERATION_SUSPECTED", "DOCUMENT_REFUSED"]],
    // A root field the policy refused is recorded as query.<field> / mutation.<field>.
    ["被策略拒绝的调用 Refused by the policy", ["QUERY_PROFILE", "QUERY_AUDIT_EVENTS", "QUERY_AUDIT_LOG_VERIFICATION", "QUERY_SUPPRESSION", "QUERY_ERASURE_REQUESTS", "QUERY_ANALYTICS", "QUERY_STAFF_SESSIONS", "QUERY_ME", "QUERY_PROFILES_BY_TAG", "QUERY_CAN_CONTACT", "MUTATION_EXPORT_PROFILE", "MUTATION_REQUEST_ERASURE", "MUTATION_APPROVE_ERASURE", "MUTATION_LIFT_SUPPRESSION", "MUTATION_REVOKE_STAFF_SESSIONS", "MUTATION_UPDATE_MY_PROFILE", "MUTATION_LINK_IDENTITY", "MUTATION_RECORD_ORDER", "MUTATION_EARN_POINTS", "MUTATION_SPEND_POINTS"]],
  ];
  const ACCESS = { full: "完整 full", masked: "脱敏 masked", denied: "拒绝 denied", write: "写入 write" };
  const api = window.cdpConsole;
  const { el, when } = api.dom;
  // The search shown: its filters (kept while paging), page number, next cursor, records.
  const view = { filters: {}, page: 1, cursor: null, records: new Map(), opener: null };

  function $(id) { return document.getElementById(id); }
  function roleWords(r) { return ROLES[r] ? `${ROLES[r]} ${r}` : r; }
  function outcomeWords(o) { return OUTCOMES[o] ? `${OUTCOMES[o]} ${o}` : o; }
  /** QUERY_AUDIT_EVENTS: 拒绝的查询 query.auditEvents (the root field the policy refused). */
  function refusedWords(name) {
    const [kind, ...rest] = name.split("_");
    const field = rest.map((w, n) => (n ? w[0] + w.slice(1).toLowerCase() : w.toLowerCase())).join("");
    return `${kind === "QUERY" ? "拒绝的查询" : "拒绝的变更"} ${kind.toLowerCase()}.${field}`;
  }
  function actionWords(a) {
    if (ACTIONS[a]) return `${ACTIONS[a]} ${a}`;
    return /^(QUERY|MUTATION)_/.test(a) ? refusedWords(a) : a;
  }
  function status(text, cls) {
    const line = $("audit-status");
    line.textContent = text;
    line.className = `status ${cls || ""}`;
  }

  function options() {
    for (const [name, words] of Object.entries(ROLES)) $("audit-role").appendChild(Object.assign(el("option", `${words} ${name}`), { value: name }));
    for (const [name, words] of Object.entries(OUTCOMES)) $("audit-outcome").appendChild(Object.assign(el("option", `${words} ${name}`), { value: name }));
    for (const [label, names] of GROUPS) {
      const group = Object.assign(el("optgroup"), { label });
      for (const name of names) group.appendChild(Object.assign(el("option", actionWords(name)), { value: name }));
      $("audit-action").appendChild(group);
    }
  }

  /** A datetime-local value (the officer's local time) as an instant with its UTC offset;
   * `to` reaches the end of the minute it names. */
  function instant(value, end) {
    if (!value) return null;
    const moment = new Date(value);
    if (Number.isNaN(moment.getTime())) return undefined;
    if (end && value.length <= 16) moment.setSeconds(59, 999);
    return moment.toISOString().replace("Z", "+00:00");
  }

  /** The form's filters as the query's variables, or null (and words) when they cannot be. */
  function filters() {
    const given = {};
    const actor = $("audit-actor").value.trim();
    if (actor) given.actor = actor;
    for (const [id, key] of [["audit-role", "role"], ["audit-action", "action"], ["audit-outcome", "outcome"]]) {
      if ($(id).value) given[key] = $(id).value;
    }
    const profile = $("audit-profile").value.trim();
    if (/^\d+$/.test(profile)) given.surrogate = Number(profile);
    else if (profile) given.profileId = profile;
    const from = instant($("audit-from").value, false);
    const to = instant($("audit-to").value, true);
    $("audit-from").setAttribute("aria-invalid", from === undefined ? "true" : "false");
    $("audit-to").setAttribute("aria-invalid", to === undefined ? "true" : "false");
    if (from === undefined || to === undefined) {
      status("时间格式有误。 The time is not valid.", "problem");
      return null;
    }
    if (from && to && from > to) {
      $("audit-from").setAttribute("aria-invalid", "true");
      status("开始时间不能晚于结束时间。 From must not be after to.", "problem");
      $("audit-from").focus();
      return null;
    }
    if (from) given.from = from;
    if (to) given.to = to;
    return given;
  }

  /** A clicked actor or profile becomes that filter; focus goes to it (its row is redrawn). */
  function filterBy(field, value) {
    const input = $(field === "actor" ? "audit-actor" : "audit-profile");
    input.value = value;
    input.focus();
    search();
  }

  /** A cell of a name: its words, then the name itself in small type (as GraphQL names it). */
  function worded(table, name) {
    const td = el("td");
    const words = table === ACTIONS && !ACTIONS[name] && /^(QUERY|MUTATION)_/.test(name) ? refusedWords(name) : table[name];
    if (!words) {
      td.textContent = name;
      return td;
    }
    td.appendChild(el("span", `${words} `));
    td.appendChild(Object.assign(el("small", name, "audit-name"), { lang: "en" }));
    return td;
  }

  function cellButton(text, label, onClick) {
    const button = el("button", text, "linkish");
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  function row(record) {
    const tr = el("tr");
    if (record.outcome !== "OK") tr.className = "audit-not-ok";
    tr.dataset.seq = String(record.seq);
    const cells = [
      el("td", String(record.seq)),
      el("td", when(record.occurredAt)),
      el("td"),
      worded(ROLES, record.actorRole),
      worded(ACTIONS, record.action),
      el("td"),
      el("td", record.purpose || "—"),
      worded(OUTCOMES, record.outcome),
      el("td"),
    ];
    cells[2].appendChild(cellButton(record.actorSubject, `按操作人筛选 Filter by actor ${record.actorSubject}`, () => filterBy("actor", record.actorSubject)));
    if (record.profileSurrogateId === null) cells[5].textContent = "—";
    else {
      const id = String(record.profileSurrogateId);
      cells[5].appendChild(cellButton(`#${id}`, `按客户筛选 Filter by profile ${id}`, () => filterBy("profile", id)));
    }
    const open = cellButton("详情", `记录 ${record.seq} 详情 Record ${record.seq}`, () => detail(record.seq, open));
    open.classList.add("audit-open");
    cells[8].appendChild(open);
    for (const cell of cells) tr.appendChild(cell);
    return tr;
  }

  /** One record with every field it has, the personal fields named, its detail as JSON. */
  function detail(seq, opener) {
    const record = view.records.get(seq);
    if (!record) return;
    view.opener = opener || null;
    const facts = $("audit-detail-facts");
    facts.replaceChildren();
    const named = record.fields.map((f) => `${f.field}（${ACCESS[f.access] || f.access}）`).join("、");
    for (const [term, value] of [
      ["序号 seq", String(record.seq)],
      ["时间 when", `${when(record.occurredAt)}（UTC ${record.occurredAt}）`],
      ["请求编号 request id", record.requestId || "—（命令行 command line）"],
      ["操作人 actor", record.actorSubject],
      ["角色 role", roleWords(record.actorRole)],
      ["操作 action", actionWords(record.action)],
      ["客户内部编号 profile (surrogate id)", record.profileSurrogateId === null ? "—" : String(record.profileSurrogateId)],
      ["个人字段 personal fields", named || "无 none"],
      ["目的 purpose", record.purpose || "—"],
      ["结果 outcome", outcomeWords(record.outcome)],
    ]) {
      facts.appendChild(el("dt", term));
      facts.appendChild(el("dd", value));
    }
    $("audit-detail-json").textContent = JSON.stringify(record.detail, null, 2);
    $("audit-detail").hidden = false;
    $("audit-detail-title").focus();
  }

  function closeDetail() {
    $("audit-detail").hidden = true;
    if (view.opener && view.opener.isConnected) view.opener.focus();
    view.opener = null;
  }

  /** Page `number` of the search, from `after` (null: the first page). */
  async function load(after, number) {
    const busy = [$("audit-go"), $("audit-next"), $("audit-first")];
    for (const button of busy) button.disabled = true;
    $("audit-table").setAttribute("aria-busy", "true");
    status("正在加载… Loading…", "busy");
    try {
      const data = await api.gql("AuditDesk", { first: PAGE, after, ...view.filters });
      const page = data.auditEvents;
      view.page = number;
      const tbody = $("audit-rows");
      tbody.replaceChildren();
      view.records.clear();
      for (const record of page.items) {
        view.records.set(record.seq, record);
        tbody.appendChild(row(record));
      }
      view.cursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      $("audit-empty").hidden = page.items.length > 0;
      $("audit-page").textContent = `第 ${view.page} 页，${page.items.length} 条 Page ${view.page}`;
      $("audit-detail").hidden = true;
      status(page.items.length ? "" : "没有符合条件的记录。 No records match.", page.items.length ? "" : "empty");
    } catch (error) {
      status(error.message, "problem");
    } finally {
      $("audit-table").removeAttribute("aria-busy");
      $("audit-go").disabled = false;
      $("audit-next").disabled = !view.cursor;
      $("audit-first").disabled = view.page === 1;
    }
  }

  function search(event) {
    if (event) event.preventDefault();
    const given = filters();
    if (!given) return;
    view.filters = given;
    view.page = 1;
    view.cursor = null;
    load(null, 1);
  }

  async function verify() {
    const button = $("audit-verify");
    const verdict = $("audit-verdict");
    button.disabled = true;
    verdict.hidden = false;
    verdict.className = "audit-verdict busy";
    verdict.textContent = "正在校验整条日志… Verifying the whole log…";
    try {
      const v = (await api.gql("AuditVerify")).auditLogVerification;
      if (v.intact) {
        verdict.className = "audit-verdict intact";
        const waiting = v.unsealed ? ` 另有 ${v.unsealed} 条新记录尚未封存（通常一两秒内封存），未计入本次校验。 ${v.unsealed} newer records not sealed yet.` : "";
        verdict.textContent = `日志完整：已校验 ${v.checked} 条记录，最新序号 ${v.headSeq}，签名树 ${v.treeSize} 条（${when(v.checkedAt)}）。 Intact: ${v.checked} records checked, head seq ${v.headSeq}, signed tree of ${v.treeSize}.${waiting}`;
      } else {
        verdict.className = "audit-verdict broken";
        verdict.textContent = `日志已被篡改：第 ${v.brokenAtSeq} 条记录有问题：${v.problem}（共校验 ${v.checked} 条，${when(v.checkedAt)}）。 Broken at seq ${v.brokenAtSeq}: ${v.problem}.`;
      }
    } catch (error) {
      verdict.className = "audit-verdict broken";
      verdict.textContent = `无法校验：${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  function clear() {
    $("audit-filters").reset();
    for (const id of ["audit-from", "audit-to"]) $(id).removeAttribute("aria-invalid");
    search();
  }

  let ready = false;
  api.desks.audit = function open() {
    if (ready) return;
    ready = true;
    options();
    $("audit-filters").addEventListener("submit", search);
    $("audit-clear").addEventListener("click", clear);
    $("audit-verify").addEventListener("click", verify);
    $("audit-next").addEventListener("click", () => {
      if (view.cursor) load(view.cursor, view.page + 1);
    });
    $("audit-first").addEventListener("click", () => load(null, 1));
    $("audit-detail-close").addEventListener("click", closeDetail);
    $("audit-detail").addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeDetail();
    });
    search();
  };
})();
