// What the erasure and export desk's scripts share (compliance_requests.js and the parts it
// loads after this one): the words for the API's statuses, modes and steps, the request's
// field list, and the small helpers that build the page with textContent only. Shared on
// window.cdpConsole.parts.requests; the scripts load in order (defer) after console.js.
"use strict";

(function requestWords() {
  const api = window.cdpConsole;
  const { el, when } = api.dom;
  const STATUS = {
    PENDING: ["待审批", "pending"],
    COOLING_OFF: ["冷静期", "cooling off"],
    HELD: ["已暂缓", "held"],
    EXECUTING: ["执行中", "executing"],
    COMPLETED: ["已完成", "completed"],
    WITHDRAWN: ["已撤回", "withdrawn"],
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
  // Whose request: an officer's (four eyes), or the person's own cancellation (注销账号).
  const ORIGIN = {
    STAFF: ["合规专员申请", "staff"],
    SELF: ["本人注销账号", "the person cancelled their account"],
    RETENTION: ["保存期限到期", "retention policy"],
  };

  function $(id) { return document.getElementById(id); }
  function hint(text) { return Object.assign(el("small", text), { lang: "en" }); }
  function modeWords(m) { return MODE[m] ? `${MODE[m][0]} ${MODE[m][1]}` : m; }
  function stepIndex(step) { return STEPS.findIndex((s) => s[0] === step); }
  function stepWords(step) {
    const s = STEPS[stepIndex(step)];
    return s ? `${s[1]} ${s[2]}` : step;
  }
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

  /** True when every field is filled; otherwise the first empty one is said and focused. */
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
  /** The codes that mean the profile id itself is wrong (marked on its field). */
  function badProfile(error) {
    return error.code === "BAD_USER_INPUT" || error.code === "NOT_FOUND" || error.code === "SUPPRESSED";
  }

  api.parts = api.parts || {};
  api.parts.requests = {
    STATUS, MODE, STEPS, ORIGIN,
    $, el, hint, when, modeWords, stepIndex, stepWords, say, overdueBadge, statusBadge,
    required, badProfile,
  };
})();
