// The suppression list (合规 · 屏蔽名单): compliance asks whether one identifier of an erased
// person is refused (the server answers its kind, since when and the erasure request, never
// the identifier), and lifts it for a stated reason (liftSuppression, kept in the audit log).
"use strict";

(function suppressionDesk() {
  const KINDS = { PHONE: "手机号 phone", UNION_ID: "UnionID", OPEN_ID: "OpenID", PROFILE: "原会员编号 former member id" };
  const HINTS = { phone: "138 1234 5678", unionId: "oUnIoN…", openId: "oAbCd…", profileId: "会员编号 member id" };
  const api = window.cdpConsole;
  const { when } = api.dom;
  let looked = null; // {key, value}: what the shown result is about, what a lift lifts

  function $(id) { return document.getElementById(id); }
  function line(id, text, cls) {
    $(id).textContent = text;
    $(id).className = `status ${cls || ""}`;
  }

  function show(answer) {
    const facts = $("suppression-facts");
    facts.replaceChildren();
    const pairs = [
      ["类型 kind", KINDS[answer.kind] || answer.kind],
      ["状态 status", answer.suppressed ? "已屏蔽 suppressed：写入会被拒绝" : "未屏蔽 not suppressed"],
    ];
    if (answer.suppressed) pairs.push(["屏蔽时间 since", when(answer.since)]);
    for (const [term, value] of pairs) {
      facts.appendChild(Object.assign(document.createElement("dt"), { textContent: term }));
      facts.appendChild(Object.assign(document.createElement("dd"), { textContent: value }));
    }
    if (answer.suppressed) {
      facts.appendChild(Object.assign(document.createElement("dt"), { textContent: "删除请求 erasure request" }));
      const dd = document.createElement("dd");
      if (answer.requestId) {
        const link = document.createElement("a");
        link.href = `#/requests/${encodeURIComponent(answer.requestId)}`;
        link.textContent = answer.requestId;
        dd.appendChild(link);
      } else {
        dd.textContent = "—";
      }
      facts.appendChild(dd);
    }
    $("suppression-result").classList.toggle("suppressed", answer.suppressed);
    $("suppression-lift").hidden = !answer.suppressed;
    $("suppression-result").hidden = false;
  }

  async function lookUp(event) {
    event.preventDefault();
    const key = $("suppression-kind").value;
    const value = $("suppression-value").value.trim();
    $("suppression-value").setAttribute("aria-invalid", value ? "false" : "true");
    if (!value) {
      line("suppression-status", "请填写要查询的标识。 Enter the identifier to look up.", "problem");
      $("suppression-value").focus();
      return;
    }
    $("suppression-result").hidden = true;
    line("lift-status", "");
    $("suppression-go").disabled = true;
    $("suppression-lookup").setAttribute("aria-busy", "true");
    line("suppression-status", "正在查询… Looking up…", "busy");
    try {
      const answer = (await api.gql("SuppressionLookup", { [key]: value })).suppression;
      looked = { key, value };
      show(answer);
      line("suppression-status", answer.suppressed ? "该标识在屏蔽名单中。 It is suppressed." : "该标识不在屏蔽名单中。 It is not suppressed.", answer.suppressed ? "" : "ok");
    } catch (error) {
      looked = null;
      line("suppression-status", error.message, "problem");
      if (error.code === "BAD_USER_INPUT") $("suppression-value").setAttribute("aria-invalid", "true");
    } finally {
      $("suppression-go").disabled = false;
      $("suppression-lookup").removeAttribute("aria-busy");
    }
  }

  async function lift(event) {
    event.preventDefault();
    const reason = $("lift-reason").value.trim();
    $("lift-reason").setAttribute("aria-invalid", reason ? "false" : "true");
    if (!reason) {
      line("lift-status", "请填写解除原因。 A reason is required.", "problem");
      $("lift-reason").focus();
      return;
    }
    if (!looked) return;
    $("lift-go").disabled = true;
    line("lift-status", "正在解除… Lifting…", "busy");
    try {
      const done = (await api.gql("SuppressionLift", { input: { reason, [looked.key]: looked.value } })).liftSuppression;
      if (done.lifted) {
        line("lift-status", `已解除屏蔽（原因：${reason}）：该${KINDS[done.kind] || done.kind}可以重新建档。 Lifted: it may start a new profile.`, "ok");
        show({ kind: done.kind, suppressed: false, since: null, requestId: null });
        $("lift-reason").value = "";
        $("suppression-value").focus();
      } else {
        line("lift-status", "该标识已不在屏蔽名单中，无需解除。 It was not suppressed: nothing to lift.", "empty");
      }
    } catch (error) {
      line("lift-status", error.message, "problem");
    } finally {
      $("lift-go").disabled = false;
    }
  }

  let ready = false;
  api.desks.suppression = function open() {
    if (ready) return;
    ready = true;
    $("suppression-lookup").addEventListener("submit", lookUp);
    $("suppression-lift").addEventListener("submit", lift);
    $("suppression-kind").addEventListener("change", () => {
      $("suppression-value").placeholder = HINTS[$("suppression-kind").value];
    });
    $("suppression-value").focus();
  };
})();
