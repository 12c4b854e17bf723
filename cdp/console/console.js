// The staff console's first page: who is signed in, in which role, and the way out.
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

function signedIn(session) {
  $("person").textContent = session.person;
  $("provider").textContent = PROVIDERS[session.provider] || session.provider;
  $("role").textContent = session.role ? ROLE_NAMES[session.role] || session.role : "未选择 not chosen";
  $("expires").textContent = new Date(session.expiresAt).toLocaleString("zh-CN");
  for (const input of document.querySelectorAll('input[name="csrf"]')) {
    input.value = session.csrfToken;
  }
  if (!session.role && session.roles.length > 1) {
    const buttons = $("role-buttons");
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
  show("signed-in");
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
    const reason = ((body.errors || [])[0] || {}).extensions?.reason;
    $("why").textContent = WHY[reason] || WHY.NO_SESSION;
    show("signed-out");
    return;
  }
  problem(`服务暂不可用（${response.status}），请稍后再试。 Unavailable (${response.status}): try again shortly.`);
}

document.addEventListener("DOMContentLoaded", load);
