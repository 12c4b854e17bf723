// Holding a cancellation on the erasure desk: the person's own request (注销账号) runs by
// itself when its cooling-off ends; an officer may hold it, only with a legal reason (kept on
// the request and in the audit log), and release it again. Shared as
// window.cdpConsole.parts.requests.hold; compliance_request_detail.js calls render(r).
"use strict";

(function requestHold() {
  const api = window.cdpConsole;
  const parts = api.parts.requests;
  const { $, say } = parts;
  let shown = null;

  function render(r) {
    shown = r;
    const box = $("dsr-hold");
    box.hidden = r.status !== "COOLING_OFF" && r.status !== "HELD";
    $("dsr-hold-button").hidden = r.status !== "COOLING_OFF";
    $("dsr-release-button").hidden = r.status !== "HELD";
  }

  async function send(trusted, input, done) {
    const reason = $("dsr-hold-reason").value.trim();
    if (!reason) {
      say("dsr-hold-status", "请填写法律依据或原因。 A reason is required.", "problem");
      $("dsr-hold-reason").focus();
      return;
    }
    try {
      const data = await api.gql(trusted, { input: { requestId: shown.id, ...input(reason) } });
      say("dsr-hold-status", done, "ok");
      $("dsr-hold-reason").value = "";
      parts.detail.show(shown.id);
      return data;
    } catch (error) {
      say("dsr-hold-status", error.message, "problem");
      return null;
    }
  }

  $("dsr-hold-button").addEventListener("click", () =>
    send("DeskHoldErasure", (reason) => ({ legalReason: reason }), "已暂缓。 Held."));
  $("dsr-release-button").addEventListener("click", () =>
    send("DeskReleaseErasureHold", (reason) => ({ reason }), "已解除暂缓。 Released."));

  parts.hold = { render };
})();
