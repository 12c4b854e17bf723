// One erasure request on the erasure desk (#/requests/<id>): its facts, the approval by a
// second officer (four eyes: the requester's own button says why it is refused, and the server
// refuses it too), the steps live while it executes (polled), and its receipt. Found by id
// (erasureRequests(id:)); shared as window.cdpConsole.parts.requests.detail.
"use strict";

(function requestDetail() {
  const api = window.cdpConsole;
  const parts = api.parts.requests;
  const { STEPS, MODE, ORIGIN, $, el, hint, when, modeWords, stepIndex, say, overdueBadge, statusBadge } = parts;
  // A cancellation runs by itself when its cooling-off ends: no officer approves it.
  const SELF_WAITING = ["COOLING_OFF", "HELD", "WITHDRAWN"];
  // Each poll is an audited read (erasure.list): once a second is live enough.
  const POLL_MS = 1000;
  const STEP_STATE = {
    done: "已完成 done",
    running: "进行中 running",
    waiting: "待执行 waiting",
  };

  // The request on screen, whether its approval is in flight, and the poll's timer.
  const view = { id: null, request: null, approving: false, timer: null, generation: 0, session: null };
  // What the desk does when a request changes on screen, and when an approval is done.
  const hooks = { changed() {}, done() {} };

  /** The request with this id, or null. */
  async function find(id) {
    const [found] = (await api.gql("DeskErasureRequest", { id })).erasureRequests.items;
    return found || null;
  }

  function facts(r) {
    const dl = $("dsr-facts");
    dl.replaceChildren();
    const due = el("dd", `${when(r.dueAt)} `);
    if (r.overdue) due.appendChild(overdueBadge());
    const status = el("dd");
    status.appendChild(statusBadge(r.status));
    const pairs = [
      ["申请编号 request id", el("dd", r.id)],
      ["状态 status", status],
      ["方式 mode", el("dd", `${modeWords(r.mode)}：${MODE[r.mode] ? MODE[r.mode][2] : ""}`)],
      ["来源 origin", el("dd", ORIGIN[r.origin] ? `${ORIGIN[r.origin][0]} ${ORIGIN[r.origin][1]}` : r.origin)],
      ["冷静期结束 runs at", el("dd", when(r.runsAt))],
      ["暂缓依据 held for", el("dd", r.holdReason ? `${r.holdReason}（${r.heldBy}）` : "—")],
      ["原因 reason", el("dd", r.reason)],
      // The public id while the request is open; once completed it is suppressed, not shown.
      ["会员编号 profile id", el("dd", r.profileId || `—（完成后不再显示，见内部编号 ${r.profileSurrogateId}） not shown once completed: surrogate id ${r.profileSurrogateId}`, "dsr-person")],
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
    button.hidden = r.status === "COMPLETED" || SELF_WAITING.includes(r.status);
    if (SELF_WAITING.includes(r.status)) {
      why.className = "dsr-why";
      why.textContent = "本人注销账号：冷静期结束后按本人申请自动执行，无需审批；如有法律原因可暂缓。 The person's own cancellation runs when its cooling-off ends; hold it only for a legal reason.";
      return;
    }
    button.replaceChildren(r.status === "EXECUTING" ? "继续执行 " : "批准并执行 ", hint(r.status === "EXECUTING" ? "Resume" : "Approve and execute"));
    const own = view.session && r.requestedBy === view.session.person;
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

  function render(r) {
    view.request = r;
    $("dsr-detail-body").hidden = false;
    facts(r);
    approveButton(r);
    steps(r);
    parts.receipt(r);
    if (parts.hold) parts.hold.render(r);
    hooks.changed(r);
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
      const data = await api.gql("DeskApproveErasure", { input: { requestId: r.id } });
      if (generation !== view.generation) return;
      view.approving = false;
      render(data.approveErasure);
      say("dsr-approve-status", "已批准并执行完毕，回执见下。 Approved and done: the receipt is below.", "ok");
      hooks.done();
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

  parts.detail = {
    hooks,
    show,
    hide,
    approve,
    stopPolling,
    /** The id of the request on screen, or null. */
    current: () => view.id,
    signedIn(session) { view.session = session; },
  };
})();
