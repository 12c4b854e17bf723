// The analyst dashboard (数据看板): every `analytics` measure over a calendar month, each an
// ECharts chart beside a small table of its numbers (for screen readers, and to read off).
// The measures are analytics_measures.js and what their charts are made of analytics_charts.js,
// both loaded before this script (window.cdpConsole.parts.analytics); this one is the page:
// the range and its presets, the cards, their loading, and the desk's route.
"use strict";

(function analyticsDesk() {
  const api = window.cdpConsole;
  const { group, el, hint, why, CHARTS, monthBack, released } = api.parts.analytics;
  const DAY = 86400000;
  const PRESETS = {
    released: (today) => released(today),
    month1: (today) => monthBack(today, 1),
    month2: (today) => monthBack(today, 2),
    month3: (today) => monthBack(today, 3),
  };

  const state = { built: false, from: null, to: null, days: 30, run: 0, cards: {} };

  function $(id) { return document.getElementById(id); }

  // Dates are "YYYY-MM-DD" strings, counted in whole days (parsed as UTC: no daylight saving).
  function iso(date) { return date.toISOString().slice(0, 10); }
  function shift(day, days) { return iso(new Date(Date.parse(day) + days * DAY)); }
  function today() {
    const now = new Date();
    return iso(new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())));
  }
  function span(from, to) { return Math.round((Date.parse(to) - Date.parse(from)) / DAY); }
  function isDay(text) { return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(text)); }

  // --- the page ---------------------------------------------------------------------------------

  function buildCard(spec) {
    const card = el("section", null, `chart-card${spec.wide ? " wide" : ""}`);
    card.id = `chart-${spec.name}`;
    card.dataset.measure = spec.name;
    const title = hint(el("h3", spec.title), spec.hint);
    title.id = `chart-${spec.name}-title`;
    card.setAttribute("aria-labelledby", title.id);
    card.appendChild(title);
    if (spec.days) card.appendChild(daysForm());
    const status = el("p", "", "status chart-status");
    status.setAttribute("role", "status");
    card.appendChild(status);
    const box = el("div", null, "chart");
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", `${spec.title}：数字见下表 ${spec.hint}: the numbers are in the table below`);
    card.appendChild(box);
    const table = el("table", null, "summary");
    const caption = hint(el("caption", `${spec.title} · 数字`), "numbers");
    table.appendChild(caption);
    const head = el("tr");
    for (const words of spec.head) head.appendChild(Object.assign(el("th", words), { scope: "col" }));
    table.appendChild(el("thead")).appendChild(head);
    const tbody = table.appendChild(el("tbody"));
    const wrap = el("div", null, "table-wrap");
    wrap.appendChild(table);
    card.appendChild(wrap);
    if (spec.note) card.appendChild(el("p", spec.note, "muted note"));
    const chart = window.echarts ? window.echarts.init(box, null, { renderer: "canvas" }) : null;
    if (chart && window.ResizeObserver) new ResizeObserver(() => chart.resize()).observe(box);
    state.cards[spec.name] = { spec, card, status, box, wrap, tbody, chart, run: 0 };
    return card;
  }

  function daysForm() {
    const form = el("form", null, "days");
    form.noValidate = true;
    const label = el("label", "下单窗口（天） ");
    label.htmlFor = "analytics-days";
    hint(label, "days from first sight to the first order, 1-365");
    const input = el("input");
    Object.assign(input, { type: "number", id: "analytics-days", name: "days", min: "1", max: "365", step: "1", value: String(state.days) });
    input.setAttribute("inputmode", "numeric");
    const go = hint(el("button", "更新"), "Update");
    go.type = "submit";
    go.className = "secondary";
    go.id = "analytics-days-apply";
    form.append(label, input, go);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const days = Number(input.value);
      const card = state.cards.conversionByChannel;
      if (!Number.isInteger(days) || days < 1 || days > 365) {
        input.setAttribute("aria-invalid", "true");
        say(card, "天数须为 1 至 365 的整数。 Days must be a whole number from 1 to 365.", "problem");
        input.focus();
        return;
      }
      input.setAttribute("aria-invalid", "false");
      state.days = days;
      loadCard(card, state.run);
    });
    return form;
  }

  function say(card, words, cls) {
    card.status.textContent = words;
    card.status.className = `status chart-status ${cls || ""}`;
  }

  function fillTable(card, rows) {
    card.tbody.replaceChildren();
    for (const row of rows) {
      const tr = el("tr", null, row.total ? "total" : "");
      tr.dataset.key = row.key;
      row.cells.forEach((cell, i) => {
        const td = el(i === 0 ? "th" : "td");
        if (i === 0) td.scope = "row";
        if (typeof cell === "string") {
          td.textContent = cell;
        } else {
          td.textContent = cell.text;
          td.dataset.value = cell.value;
          if (cell.suppressed) {
            td.dataset.suppressed = "true";
            td.className = "suppressed";
            td.title = why();
          }
        }
        tr.appendChild(td);
      });
      card.tbody.appendChild(tr);
    }
  }

  async function loadCard(card, run) {
    const spec = card.spec;
    const mine = ++card.run;
    // A trend asks for the twelve months up to the chosen one (analytics_trends.js).
    const variables = spec.range ? spec.range(state.from, state.to) : { from: state.from, to: state.to };
    if (spec.days) variables.days = state.days;
    card.card.setAttribute("aria-busy", "true");
    card.card.dataset.state = "loading";
    say(card, "正在加载… Loading…", "busy");
    // A tooltip left showing would be re-shown by ECharts after the redraw, on a view the
    // redraw has disposed of: hide it first.
    if (card.chart) card.chart.dispatchAction({ type: "hideTip" });
    if (card.chart) card.chart.showLoading("default", { text: "加载中… Loading", color: "#1f6feb", textColor: "#57606a", maskColor: "rgba(255, 255, 255, 0.8)" });
    let outcome;
    try {
      const data = await api.gql(spec.document, variables);
      outcome = { analytics: data.analytics };
    } catch (error) {
      outcome = { error };
    }
    // A later range or days setting has been asked for since: this answer is stale.
    if (mine !== card.run || run !== state.run) return outcome;
    card.card.removeAttribute("aria-busy");
    if (card.chart) card.chart.hideLoading();
    if (outcome.error && (outcome.error.extensions || {}).reason === "NOT_RELEASED") {
      card.card.dataset.state = "pending";
      say(card, `尚未发布：该月结束（及其后的等待期）之后才有结果。 Not released yet: ${outcome.error.message}.`, "empty");
      card.box.hidden = true;
      card.wrap.hidden = true;
      return { analytics: null };
    }
    if (outcome.error) {
      card.card.dataset.state = "error";
      say(card, outcome.error.message, "problem");
      card.box.hidden = true;
      card.wrap.hidden = true;
      return outcome;
    }
    showK(outcome.analytics.minimumGroupSize);
    const drawn = spec.draw(outcome.analytics);
    fillTable(card, drawn.rows);
    const hiddenCells = drawn.cells.filter((c) => c.suppressed).length;
    if (drawn.empty) {
      card.card.dataset.state = "empty";
      say(card, "此时间范围内没有数据。 No data in this range.", "empty");
      card.box.hidden = true;
      card.wrap.hidden = true;
      if (card.chart) card.chart.clear();
      return outcome;
    }
    card.card.dataset.state = "drawn";
    card.box.hidden = false;
    card.wrap.hidden = false;
    if (hiddenCells === drawn.cells.length) {
      say(card, `全部分组少于 ${group.k} 人（或无数据），已隐藏。 Every group is under the minimum group size (or empty): all hidden.`, "empty");
    } else if (hiddenCells) {
      say(card, `${hiddenCells} 个分组已隐藏以保护隐私（少于 ${group.k} 人，或可据以推算），图中为灰色斜纹。 ${hiddenCells} hidden for privacy (grey, hatched).`, "muted");
    } else {
      say(card, "");
    }
    if (card.chart) {
      card.chart.resize();
      card.chart.setOption(drawn.option, true);
    } else {
      say(card, "图表库未加载，数字见下表。 The chart library did not load: see the table.", "problem");
    }
    return outcome;
  }

  function showK(k) {
    group.k = k;
    $("analytics-min-group").textContent = String(k);
  }

  function rangeStatus(words, cls) {
    const line = $("analytics-status");
    line.textContent = words;
    line.className = `status ${cls || ""}`;
  }

  /** The form's range, or null (with the reason said and the field focused) when it is not one. */
  function readRange() {
    const from = $("analytics-from");
    const to = $("analytics-to");
    for (const input of [from, to]) input.setAttribute("aria-invalid", "false");
    const refuse = (input, words) => {
      input.setAttribute("aria-invalid", "true");
      rangeStatus(words, "problem");
      input.focus();
      return null;
    };
    if (!isDay(from.value)) return refuse(from, "请填写开始日期。 Enter the first day.");
    if (!isDay(to.value)) return refuse(to, "请填写结束日期。 Enter the last day.");
    if (to.value < from.value) return refuse(to, "结束日期不能早于开始日期。 The last day must be on or after the first.");
    if (from.value.slice(0, 7) !== to.value.slice(0, 7)) return refuse(to, "开始和结束日期须在同一个自然月内（按整月统计）。 Both days must fall in one calendar month (answers are per month).");
    // The whole month holding the days: what the API answers.
    return monthBack(from.value, 0);
  }

  async function load() {
    const run = ++state.run;
    rangeStatus(`正在加载 ${state.from} 至 ${state.to} 的数据… Loading ${state.from} to ${state.to}…`, "busy");
    $("analytics-apply").disabled = true;
    const outcomes = await Promise.all(Object.values(state.cards).map((card) => loadCard(card, run)));
    if (run !== state.run) return;
    $("analytics-apply").disabled = false;
    const failed = outcomes.filter((o) => o.error);
    const bad = failed.find((o) => o.error.code === "BAD_USER_INPUT");
    if (bad) {
      const field = bad.error.extensions.field;
      if (field === "from" || field === "to") $(`analytics-${field}`).setAttribute("aria-invalid", "true");
      rangeStatus(`查询范围有误：${bad.error.message}`, "problem");
    } else if (failed.length) {
      rangeStatus(`${failed.length} 个图表加载失败：${failed[0].error.message}`, "problem");
    } else {
      rangeStatus(`${state.from} 至 ${state.to}（${span(state.from, state.to) + 1} 天）。 ${state.from} to ${state.to}.`, "ok");
    }
  }

  /** Show `range` and load it; a range chosen (not the default) goes in the address. */
  function apply(range, chosen = true) {
    [state.from, state.to] = range;
    $("analytics-from").value = state.from;
    $("analytics-to").value = state.to;
    for (const button of document.querySelectorAll("#analytics-range [data-preset]")) {
      const [from, to] = PRESETS[button.dataset.preset](today());
      button.setAttribute("aria-pressed", String(from === state.from && to === state.to));
    }
    // A chosen range lives in the address (#/analytics/FROM/TO): a reload or a link keeps it.
    if (chosen) history.replaceState(null, "", `#/analytics/${state.from}/${state.to}`);
    load();
  }

  function build() {
    state.built = true;
    const charts = $("analytics-charts");
    for (const spec of CHARTS) charts.appendChild(buildCard(spec));
    if (!window.echarts) rangeStatus("图表库未加载。 The chart library did not load.", "problem");
    $("analytics-range").addEventListener("submit", (event) => {
      event.preventDefault();
      const range = readRange();
      if (range) apply(range);
    });
    for (const button of document.querySelectorAll("#analytics-range [data-preset]")) {
      button.addEventListener("click", () => apply(PRESETS[button.dataset.preset](today())));
    }
    window.addEventListener("resize", () => {
      for (const card of Object.values(state.cards)) if (card.chart) card.chart.resize();
    });
  }

  api.desks.analytics = function open(session, rest) {
    if (!state.built) build();
    const [from, to] = (rest || "").split("/");
    if (isDay(from) && isDay(to)) {
      $("analytics-from").value = from;
      $("analytics-to").value = to;
      const range = readRange();
      if (range) apply(range);
      return;
    }
    if (state.from) apply([state.from, state.to], false);
    else apply(PRESETS.released(today()), false);
  };
})();
