// The staff console's shell: who is signed in and in which role, the desks that role opens
// (hash routing, #/support), and `gql`, the one way the desks talk to /graphql: by the name of a
// trusted document of documents.graphql, whose id documents.js (loaded first) gives.
// No inline script anywhere (CSP script-src 'self'); text goes in by textContent only.
"use strict";

const ROLE_NAMES = { support: "客服 support", analyst: "数据分析 analyst", compliance: "合规 compliance" };
const PROVIDERS = { wecom: "企业微信 WeCom", oidc: "单点登录 OpenID Connect", development: "开发环境 development" };
const WHY = {
  NO_SESSION: "请先登录。 Please sign in.",
  UNKNOWN_SESSION: "会话不存在，请重新登录。 Unknown session: sign in again.",
  SIGNED_OUT: "你已退出登录。 You signed out.",
  REVOKED: "会话已被撤销，请重新登录。 This session was revoked: sign in again.",
  IDLE: "长时间未操作，会话已结束。 The session was idle too long: sign in again.",
  EXPIRED: "会话已到期，请重新登录。 The session reached its lifetime: sign in again.",
  DIRECTORY: "通讯录中的角色已变化，请重新登录。 The directory changed your roles: sign in again.",
};
// Every error code of the contract, in words (the server's message follows in English).
const ERROR_WORDS = {
  UNAUTHENTICATED: "未登录或会话已结束。 Not signed in, or the session ended.",
  FORBIDDEN: "你的角色无权查看或执行此操作（服务端拒绝）。 Your role may not do this (refused by the server).",
  NOT_FOUND: "查无此记录。 Not found.",
  BAD_USER_INPUT: "输入有误。 The input is not valid.",
  CONFLICT: "与当前状态冲突，请刷新后重试。 Conflicts with the current state: reload and retry.",
  SUPPRESSED: "该身份已被删除并列入屏蔽名单。 This identity was erased and is suppressed.",
  QUERY_TOO_COMPLEX: "请求超出限制。 The request is over a limit.",
  INTERNAL: "服务器内部错误。 Internal error.",
};
const FORBIDDEN_WHY = {
  CSRF: "防伪令牌不符，请刷新页面。 The anti-forgery token did not match: reload the page.",
  ROLE_NOT_CHOSEN: "请先选择本次会话的角色。 Choose this session's role first.",
  DOCUMENT_ROLE: "此操作不属于你当前的角色。 This document is not registered for your role.",
  TRUSTED_DOCUMENTS_ONLY: "控制台只能发送已登记的文档。 The console may send registered documents only.",
};
const NOT_FOUND_WHY = {
  PERSISTED_DOCUMENT_NOT_FOUND: "页面版本与服务端不一致，请刷新页面。 The page is older or newer than the server: reload it.",
};
const LIMIT_WORDS = {
  rate: "请求过于频繁，请稍候。 Too many requests: wait a moment.",
  lookups: "每次只能查询一位客户。 One customer per lookup.",
  lookupMisses: "查无此人的次数已达上限，暂停查询。 Too many lookups found nobody: lookups are paused.",
  time: "查询耗时过长。 The query took too long.",
  response: "结果过大，请缩小范围。 The answer is too large: ask for less.",
  list: "每页最多 100 条。 At most 100 items a page.",
};
// The desks each role opens; each desk's script fills its section and registers its `open`.
const DESKS = {
  support: { title: "客服工作台", hint: "Support desk", section: "desk-support" },
  requests: { title: "合规 · 删除与导出", hint: "Compliance: erasure and export", section: "desk-requests" },
  audit: { title: "合规 · 审计日志", hint: "Compliance: audit log", section: "desk-audit" },
  suppression: { title: "合规 · 屏蔽名单", hint: "Compliance: suppression list", section: "desk-suppression" },
  analytics: { title: "数据看板", hint: "Analyst dashboard", section: "desk-analytics" },
};
const ROLE_DESKS = {
  support: ["support"],
  compliance: ["support", "requests", "audit", "suppression"],
  analyst: ["analytics"],
};

const state = { session: null, desks: {} };

function $(id) { return document.getElementById(id); }

function show(id) {
  $("loading").hidden = true;
  $(id).hidden = false;
}

function problem(text) {
  $("loading").hidden = true;
  $("problem").textContent = text;
  $("problem").hidden = false;
}

/** Back to the sign-in panel, saying why (a 401's reason). */
function signedOut(reason) {
  state.session = null;
  $("signed-in").hidden = true;
  $("why").textContent = WHY[reason] || WHY.NO_SESSION;
  show("signed-out");
}

/** An error of /graphql in words: the code's, its reason or limit or field, then the server's. */
function describeError(error, status, retryAfter) {
  const ext = (error && error.extensions) || {};
  const code = ext.code || (status === 503 ? "UNAVAILABLE" : "INTERNAL");
  const parts = [];
  if (status === 503) {
    parts.push(`服务暂不可用，请 ${retryAfter || "稍后"} 秒后重试。 Unavailable: retry in ${retryAfter || "a few"} s.`);
  } else {
    parts.push(ERROR_WORDS[code] || ERROR_WORDS.INTERNAL);
  }
  if (code === "UNAUTHENTICATED" && WHY[ext.reason]) parts.push(WHY[ext.reason]);
  if (code === "FORBIDDEN" && FORBIDDEN_WHY[ext.reason]) parts.push(FORBIDDEN_WHY[ext.reason]);
  if (code === "NOT_FOUND" && NOT_FOUND_WHY[ext.reason]) parts.push(NOT_FOUND_WHY[ext.reason]);
  if (code === "QUERY_TOO_COMPLEX" && ext.limit) {
    parts.push(LIMIT_WORDS[ext.limit] || `限制 limit: ${ext.limit}`);
    if (retryAfter) parts.push(`${retryAfter} 秒后可重试。 Retry in ${retryAfter} s.`);
  }
  if (code === "BAD_USER_INPUT" && ext.field) parts.push(`字段 field: ${ext.field}`);
  if (code === "INTERNAL" && ext.requestId) parts.push(`请求编号 request id: ${ext.requestId}`);
  if (error && error.message) parts.push(`(${error.message})`);
  return parts.join(" ");
}

class GqlError extends Error {
  constructor(words, code, status, extensions) {
    super(words);
    this.code = code;
    this.status = status;
    this.extensions = extensions || {};
  }
}

/** POST the trusted document `name` (its id from documents.js: never a document's text) to
 * /graphql with the session's anti-CSRF header. Resolves to `data`; rejects with a GqlError
 * whose message is in words. A 401 returns the page to sign-in. */
async function gql(name, variables) {
  const documents = window.cdpDocuments || {};
  if (!Object.hasOwn(documents, name)) {
    throw new GqlError(`页面没有此文档。 The page has no document ${name}.`, "UNKNOWN_DOCUMENT", 0);
  }
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "X-CDP-CSRF": state.session ? state.session.csrfToken : "",
      },
      body: JSON.stringify({ documentId: documents[name], operationName: name, variables: variables || {} }),
    });
  } catch (error) {
    throw new GqlError("无法连接服务器。 The server cannot be reached.", "NETWORK", 0);
  }
  const retryAfter = response.headers.get("retry-after");
  const body = await response.json().catch(() => ({}));
  const first = (body.errors || [])[0];
  const ext = (first && first.extensions) || {};
  if (response.status === 401 || ext.code === "UNAUTHENTICATED") {
    signedOut(ext.reason);
    throw new GqlError(describeError(first, response.status), "UNAUTHENTICATED", response.status, ext);
  }
  if (first || !response.ok) {
    const words = describeError(first, response.status, retryAfter);
    throw new GqlError(words, ext.code || "INTERNAL", response.status, ext);
  }
  return body.data;
}

function route() {
  if (!state.session || !state.session.role) return;
  const allowed = ROLE_DESKS[state.session.role] || [];
  let name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  if (!allowed.includes(name)) {
    name = allowed[0];
    if (name) history.replaceState(null, "", `#/${name}`);
  }
  for (const section of document.querySelectorAll(".desk")) section.hidden = true;
  for (const link of $("nav").querySelectorAll("a")) {
    if (link.dataset.desk === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!name) return;
  const desk = DESKS[name];
  $(desk.section).hidden = false;
  const open = state.desks[name];
  // The rest of the hash (#/requests/<id>) is the desk's own: a request, a record.
  const rest = (location.hash.match(/^#\/\w+\/(.+)$/) || [])[1] || null;
  if (open) open(state.session, rest);
}

function buildNav(role) {
  const nav = $("nav");
  nav.replaceChildren();
  for (const name of ROLE_DESKS[role] || []) {
    const link = document.createElement("a");
    link.href = `#/${name}`;
    link.dataset.desk = name;
    link.textContent = DESKS[name].title + " ";
    const hint = document.createElement("small");
    hint.lang = "en";
    hint.textContent = DESKS[name].hint;
    link.appendChild(hint);
    nav.appendChild(link);
  }
  nav.hidden = false;
}

function signedIn(session) {
  state.session = session;
  $("person").textContent = session.person;
  $("provider").textContent = PROVIDERS[session.provider] || session.provider;
  $("role").textContent = session.role ? ROLE_NAMES[session.role] || session.role : "未选择 not chosen";
  $("expires").textContent = new Date(session.expiresAt).toLocaleString("zh-CN");
  for (const input of document.querySelectorAll('input[name="csrf"]')) {
    input.value = session.csrfToken;
  }
  if (!session.role && session.roles.length > 1) {
    const buttons = $("role-buttons");
    buttons.replaceChildren();
    for (const role of session.roles) {
      const button = document.createElement("button");
      button.type = "submit";
      button.name = "role";
      button.value = role;
      button.textContent = ROLE_NAMES[role] || role;
      buttons.appendChild(button);
    }
    $("choose").hidden = false;
  }
  $("signed-out").hidden = true;
  show("signed-in");
  if (session.role) {
    buildNav(session.role);
    route();
  }
}

async function load() {
  let response;
  try {
    response = await fetch("/auth/staff/session", {
      credentials: "same-origin",
      headers: { accept: "application/json" },
    });
  } catch (error) {
    problem("无法连接服务器。 The server cannot be reached.");
    return;
  }
  if (response.ok) {
    signedIn(await response.json());
    return;
  }
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    signedOut(((body.errors || [])[0] || {}).extensions?.reason);
    return;
  }
  problem(`服务暂不可用（${response.status}），请稍后再试。 Unavailable (${response.status}): try again shortly.`);
}

/** The DOM helpers every desk uses: text goes in by textContent only. */
const dom = {
  /** A `tag` element holding `text`, with class `cls`. */
  el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  },
  /** A time in the officer's locale, or a dash. */
  when(t) { return t ? new Date(t).toLocaleString("zh-CN") : "—"; },
  /** Fen as yuan: ¥1,234.50. */
  yuan(fen) {
    return `¥${(fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  },
};

// What the desks share: they register with `desks[name] = open(session, rest)`; a desk of
// several files shares its parts through `parts[desk]`.
window.cdpConsole = { gql, describeError, GqlError, ERROR_WORDS, LIMIT_WORDS, WHY, dom, desks: state.desks, parts: {} };
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", load);
