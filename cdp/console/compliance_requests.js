// The compliance desk's data-subject requests (删除与导出): the erasure queue by status (or
// the overdue alone), the form that requests an erasure, and the desk's routes: #/requests,
// #/requests/<id> (one request: compliance_request_detail.js) and #/requests/new/<profileId>
// (both forms filled in for that person, from the support desk's card). The export is
// compliance_export.js; what they share is compliance_request_words.js, loaded before.
// Everything goes through the GraphQL API (cdpConsole.gql); text goes in by textContent only.
"use strict";

(function requestsDesk() {
  const PAGE = 10;
  const api = window.cdpConsole;
  const parts = api.parts.requests;
  const { $, el, when, modeWords, stepWords, say, overdueBadge, statusBadge, required, badProfile, detail } = parts;
  const queue = { status: null, overdue: false, cursor: null, loading: 0 };

  /* -- the queue -- */

  // Each cell names its column, so that a narrow screen can show a row as a card.
  const COLUMNS = ["申请 request", "会员 person", "状态 status", "方式 mode", "原因 reason", "申请人 requested by", "申请时间 requested", "截止 due", "步骤 step"];

  /** The link to a request, shortened, its whole id in its title. */
  function opener(id) {
    const link = el("a", `${id.slice(0, 8)}…`);
    link.href = `#/requests/${id}`;
    link.title = id;
    link.setAttribute("aria-label", `打开申请 open request ${id}`);
    return link;
  }

  /** The person: the public id while the request is open; once completed, the surrogate id. */
  function person(r) {
    if (r.profileId) return Object.assign(el("code", r.profileId), { title: r.profileId });
    const n = r.profileSurrogateId;
    return Object.assign(el("code", `#${n}`), { title: `内部编号 surrogate id ${n}` });
  }

  function queueRow(r) {
    const row = el("tr");
    row.dataset.request = r.id;
    row.dataset.status = r.status;
    row.appendChild(el("td")).appendChild(opener(r.id));
    row.appendChild(el("td", null, "dsr-person")).appendChild(person(r));
    row.appendChild(el("td")).appendChild(statusBadge(r.status));
    row.appendChild(el("td", modeWords(r.mode)));
    row.appendChild(el("td", r.reason, "dsr-reason"));
    row.appendChild(el("td", r.requestedBy));
    row.appendChild(el("td", when(r.requestedAt)));
    const due = el("td", `${when(r.dueAt)} `);
    if (r.overdue) {
      row.classList.add("overdue");
      due.appendChild(overdueBadge());
    }
    row.appendChild(due);
    row.appendChild(el("td", stepWords(r.step)));
    Array.from(row.cells).forEach((cell, n) => { cell.dataset.label = COLUMNS[n]; });
    if (r.id === detail.current()) row.setAttribute("aria-current", "true");
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
      const variables = { status: queue.status, overdue: queue.overdue, first: PAGE, after: more ? queue.cursor : null };
      const page = (await api.gql("DeskErasureQueue", variables)).erasureRequests;
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

  /** One status (or all: ""), or the overdue alone, pressed among the filter buttons. */
  function filter(status, overdue) {
    queue.overdue = Boolean(overdue);
    queue.status = queue.overdue ? null : status || null;
    for (const button of document.querySelectorAll("#desk-requests .dsr-filters [aria-pressed]")) {
      const pressed = "overdue" in button.dataset ? queue.overdue : !queue.overdue && button.dataset.status === (status || "");
      button.setAttribute("aria-pressed", String(pressed));
    }
    loadQueue(false);
  }

  /** A request on screen changed: its row in the queue shows the change too. */
  function rowChanged(r) {
    const row = $("dsr-queue").querySelector(`tr[data-request="${CSS.escape(r.id)}"]`);
    if (row) row.replaceWith(queueRow(r));
  }

  /* -- the request form -- */

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
      const created = (await api.gql("DeskRequestErasure", { input })).requestErasure;
      say("dsr-new-status", `已提交申请 ${created.id}，等待另一位合规专员批准。 Requested: a second officer approves.`, "ok");
      $("dsr-new-reason").value = "";
      loadQueue(false);
      location.hash = `#/requests/${created.id}`;
    } catch (error) {
      say("dsr-new-status", error.message, "problem");
      if (badProfile(error)) $("dsr-new-profile").setAttribute("aria-invalid", "true");
    } finally {
      $("dsr-new-go").disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  /** #/requests/new/<profileId>: both forms for this person, the request's reason to write. */
  function prefill(profileId) {
    for (const id of ["dsr-new-profile", "dsr-export-profile"]) {
      $(id).value = profileId;
      $(id).setAttribute("aria-invalid", "false");
    }
    say("dsr-new-status", "");
    say("dsr-export-status", "");
    $("dsr-new-reason").focus();
  }

  /* -- the desk -- */

  let ready = false;
  function setUp() {
    ready = true;
    for (const button of document.querySelectorAll("#desk-requests .dsr-filters [aria-pressed]")) {
      button.addEventListener("click", () => filter(button.dataset.status, "overdue" in button.dataset));
    }
    $("dsr-refresh").addEventListener("click", () => loadQueue(false));
    $("dsr-queue-more").addEventListener("click", () => loadQueue(true));
    $("dsr-approve").addEventListener("click", detail.approve);
    $("dsr-reload").addEventListener("click", () => { if (detail.current()) detail.show(detail.current()); });
    $("dsr-new").addEventListener("submit", requestErasure);
    $("dsr-export").addEventListener("submit", parts.exportProfile);
    detail.hooks.changed = rowChanged;
    detail.hooks.done = () => loadQueue(false);
    // Leaving the desk (or the request) stops the poll at once.
    window.addEventListener("hashchange", () => {
      const id = detail.current();
      if (id && location.hash !== `#/requests/${id}`) detail.stopPolling();
    });
  }

  api.desks.requests = function open(current, rest) {
    detail.signedIn(current);
    if (!ready) setUp();
    loadQueue(false);
    const path = rest ? decodeURIComponent(rest).trim() : "";
    const filling = path.match(/^new\/(.+)$/);
    if (!path || filling) {
      detail.hide();
      if (filling) prefill(filling[1].trim());
      return;
    }
    detail.show(path).then(() => {
      const shown = $("dsr-detail");
      if (!shown.hidden) shown.focus({ preventScroll: false });
    });
  };
})();
