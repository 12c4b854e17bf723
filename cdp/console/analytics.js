// The analyst dashboard (数据看板): every `analytics` measure over a date range, each an
// ECharts chart beside a small table of its numbers (for screen readers, and to read off).
// A suppressed cell (fewer than minimumGroupSize people: null numbers) is drawn as a grey
// hatched bar at a placeholder height with a tooltip saying why, never as zero or a gap.
// Tooltips are elements built with textContent: the console's CSP refuses ECharts' default
// markup tooltips (tests/console/test_echarts_browser.py).
"use strict";

(function analyticsDesk() {
  const api = window.cdpConsole;
  const MAX_DAYS = 3660; // the API's limit (cdp/graphql/analytics.py)
  const DAY = 86400000;
  const TIER = { STANDARD: "普通会员", VIP: "VIP 会员", SUPREME: "至尊会员" };
  const CHANNEL = { MINI_PROGRAM: "小程序", OFFICIAL_ACCOUNT: "公众号", CHANNELS: "视频号", WEB: "网页", SMS: "短信" };
  const PURPOSE = { MARKETING: "营销", ACTIVITY_NOTIFICATIONS: "活动通知", PERSONALIZATION: "个性化", ANALYTICS: "数据分析" };
  // The `from` entry parameters the brand's links carry (cdp/demo/activity.py); others as sent.
  const SOURCE = { menu: "菜单", article: "文章", moments: "朋友圈", video: "视频", live: "直播", search: "搜索" };
  const COLORS = ["#1f6feb", "#2da44e", "#bf8700", "#8250df", "#cf222e"];
  // The suppressed look: a fixed grey with diagonal stripes, the same in every chart.
  const HIDDEN_STYLE = {
    color: "#d0d7de",
    borderColor: "#6e7781",
    borderWidth: 1,
    borderType: "dashed",
    decal: { symbol: "rect", symbolSize: 1, color: "rgba(87, 96, 106, 0.45)", dashArrayX: [1, 0], dashArrayY: [3, 5], rotation: Math.PI / 4 },
  };
  const BREAKDOWN = "{ cells { key count suppressed } total totalSuppressed }";
  const RATE = "{ key channel numerator denominator rate suppressed }";
  const RANGE = "from: $from, to: $to";
  const PRESETS = {
    days7: (today) => [shift(today, -6), today],
    days30: (today) => [shift(today, -29), today],
    month: (today) => [`${today.slice(0, 8)}01`, today],
    days90: (today) => [shift(today, -89), today],
    days365: (today) => [shift(today, -364), today],
  };

  const state = { built: false, from: null, to: null, days: 30, k: null, run: 0, cards: {} };

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function hint(node, words) {
    const small = el("small", words);
    small.lang = "en";
    node.appendChild(document.createTextNode(" "));
    node.appendChild(small);
    return node;
  }
  function count(n) { return n.toLocaleString("zh-CN"); }
  function percent(rate) { return `${(rate * 100).toFixed(1)}%`; }
  function yuan(fen) {
    return `¥${(fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  function channel(c) { return CHANNEL[c] || c; }
  function source(s) { return s === null ? "（无来源）" : SOURCE[s] || s; }
  function hiddenWords() { return `已隐藏（少于 ${state.k} 人） hidden`; }
  function why() { return `少于 ${state.k} 人，已隐藏以保护隐私`; }

  // Dates are "YYYY-MM-DD" strings, counted in whole days (parsed as UTC: no daylight saving).
  function iso(date) { return date.toISOString().slice(0, 10); }
  function shift(day, days) { return iso(new Date(Date.parse(day) + days * DAY)); }
  function today() {
    const now = new Date();
    return iso(new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())));
  }
  function span(from, to) { return Math.round((Date.parse(to) - Date.parse(from)) / DAY); }
  function isDay(text) { return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(text)); }

  // --- what a chart is made of ---------------------------------------------------------------

  /** One bar: a number with its words, or a suppressed placeholder at `stub` height. */
  function bar(name, value, text, stub, extra) {
    if (value === null || value === undefined) {
      return {
        name, value: stub, suppressed: true, text: hiddenWords(),
        itemStyle: HIDDEN_STYLE,
        label: { show: true, position: "top", formatter: "已隐藏", color: "#57606a" },
      };
    }
    return { name, value, suppressed: false, text, ...(extra || {}) };
  }
  /** A placeholder height: visible beside the shown bars without passing for one of them. */
  function stubFor(values, floor) {
    const shown = values.filter((v) => v !== null && v !== undefined);
    return Math.max(shown.length ? Math.max(...shown) : 0, floor) * 0.25;
  }

  function tooltip(params) {
    const item = params.data || {};
    const box = el("div", null, "chart-tip");
    box.appendChild(el("strong", params.name));
    if (item.suppressed) {
      box.appendChild(el("div", why(), "why"));
      box.appendChild(el("div", "或其数字可由其他分组推算。 Fewer people than the minimum group size, or its count could be worked out from the others.", "muted"));
    } else {
      box.appendChild(el("div", `${params.seriesName}：${item.text}`));
      if (item.detail) box.appendChild(el("div", item.detail, "muted"));
    }
    return box;
  }

  function base(axisName, valueName, extra) {
    return {
      animation: false,
      color: COLORS,
      grid: { left: 56, right: 24, top: 48, bottom: 56, containLabel: true },
      // Above the bar, not over it (a short hidden bar would vanish under its own tooltip).
      tooltip: { trigger: "item", confine: true, position: "top", className: "chart-tooltip", formatter: tooltip },
      xAxis: { type: "category", name: axisName, nameLocation: "middle", nameGap: 32, axisLabel: { interval: 0, hideOverlap: true } },
      yAxis: { type: "value", name: valueName, minInterval: 1 },
      ...(extra || {}),
    };
  }

  function countChart(cells, labelOf, axisName, horizontal) {
    const stub = stubFor(cells.map((c) => c.count), state.k);
    const data = cells.map((c) => bar(labelOf(c.key), c.count, c.count === null ? "" : `${count(c.count)} 人`, stub));
    const option = base(axisName, "人数 people");
    option.xAxis.data = cells.map((c) => labelOf(c.key));
    option.series = [{ type: "bar", name: "人数 people", data, barMaxWidth: 48 }];
    if (horizontal) {
      [option.xAxis, option.yAxis] = [option.yAxis, option.xAxis];
      Object.assign(option.xAxis, { nameLocation: "middle", nameGap: 28 });
      // Inverse: the first tag on top, and the axis's start (its name) at the top too.
      Object.assign(option.yAxis, { inverse: true, nameLocation: "start", nameGap: 12 });
      option.grid.top = 36;
      for (const item of data) if (item.label) item.label.position = "right";
    }
    return option;
  }

  function countRows(cells, labelOf) {
    return cells.map((c) => ({
      key: c.key,
      cells: [labelOf(c.key), c.count === null ? hidden() : number(c.count, `${count(c.count)} 人`)],
    }));
  }
  function hidden() { return { text: hiddenWords(), value: "", suppressed: true }; }
  function number(value, text) { return { text, value: String(value), suppressed: false }; }
  function rateCell(r) {
    return r.suppressed || r.rate === null ? hidden() : number(r.rate, `${percent(r.rate)}（${count(r.numerator)} / ${count(r.denominator)}）`);
  }
  function totalRow(label, total, hiddenTotal, text) {
    return { key: "total", total: true, cells: [label, hiddenTotal || total === null ? hidden() : number(total, text(total))] };
  }

  function rateChart(rates, labels, axisName) {
    const values = rates.map((r) => (r.suppressed || r.rate === null ? null : r.rate * 100));
    const stub = stubFor(values, 20);
    const data = rates.map((r, i) => bar(labels[i], values[i], values[i] === null ? "" : percent(r.rate), stub, { detail: values[i] === null ? "" : `${count(r.numerator)} / ${count(r.denominator)} 人` }));
    const option = base(axisName, "比例 % share");
    option.xAxis.data = labels;
    option.yAxis.max = 100;
    option.yAxis.axisLabel = { formatter: "{value}%" };
    option.series = [{ type: "bar", name: "比例 share", data, barMaxWidth: 56 }];
    return option;
  }

  // --- the charts: each its query, its option, its table ---------------------------------------

  const CHARTS = [
    {
      name: "membersByTier", title: "新会员 · 按等级", hint: "New members by tier",
      query: `membersByTier(${RANGE}) ${BREAKDOWN}`,
      head: ["等级 tier", "人数 people"],
      draw(a) {
        const m = a.membersByTier;
        const label = (k) => TIER[k] || k;
        return {
          option: countChart(m.cells, label, "会员等级 tier"),
          rows: [...countRows(m.cells, label), totalRow("合计 total", m.total, m.totalSuppressed, (n) => `${count(n)} 人`)],
          empty: m.cells.length === 0,
          cells: m.cells,
        };
      },
    },
    {
      name: "membersByFirstChannel", title: "新会员 · 按首次渠道", hint: "New members by first channel",
      query: `membersByFirstChannel(${RANGE}) ${BREAKDOWN}`,
      head: ["首次渠道 first channel", "人数 people"],
      draw(a) {
        const m = a.membersByFirstChannel;
        return {
          option: countChart(m.cells, channel, "首次渠道 first channel"),
          rows: [...countRows(m.cells, channel), totalRow("合计 total", m.total, m.totalSuppressed, (n) => `${count(n)} 人`)],
          empty: m.cells.length === 0,
          cells: m.cells,
        };
      },
    },
    {
      name: "consentOptInRates", title: "授权同意率 · 按用途与渠道", hint: "Consent opt-in rate per purpose and channel", wide: true,
      query: `consentOptInRates(${RANGE}) ${RATE}`,
      head: ["用途 purpose", ...Object.keys(CHANNEL).map((c) => `${CHANNEL[c]} ${c}`)],
      draw(a) {
        const rates = a.consentOptInRates;
        const purposes = [...new Set(rates.map((r) => r.key))];
        const channels = [...new Set(rates.map((r) => r.channel))];
        const at = (p, c) => rates.find((r) => r.key === p && r.channel === c);
        const values = rates.map((r) => (r.suppressed || r.rate === null ? null : r.rate * 100));
        const stub = stubFor(values, 20);
        const option = base("授权用途 purpose", "同意率 % opted in", { legend: { top: 0, type: "scroll" } });
        option.xAxis.data = purposes.map((p) => PURPOSE[p] || p);
        option.yAxis.max = 100;
        option.yAxis.axisLabel = { formatter: "{value}%" };
        option.series = channels.map((c) => ({
          type: "bar", name: channel(c), barMaxWidth: 20,
          data: purposes.map((p) => {
            const r = at(p, c);
            const value = r.suppressed || r.rate === null ? null : r.rate * 100;
            const item = bar(`${PURPOSE[p] || p} · ${channel(c)}`, value, value === null ? "" : percent(r.rate), stub, { detail: value === null ? "" : `${count(r.numerator)} / ${count(r.denominator)} 人` });
            // Twenty narrow bars: a hidden one keeps its channel's colour as its outline, and
            // no label (they would overlap); the tooltip and the table say it is hidden.
            if (item.suppressed) {
              item.itemStyle = { ...HIDDEN_STYLE, borderColor: COLORS[channels.indexOf(c) % COLORS.length], borderWidth: 2 };
              item.label = { show: false };
            }
            return item;
          }),
        }));
        const rows = purposes.map((p) => ({ key: p, cells: [`${PURPOSE[p] || p} ${p}`, ...channels.map((c) => rateCell(at(p, c)))] }));
        return { option, rows, empty: rates.length === 0, cells: rates };
      },
    },
    {
      name: "ordersBySource", title: "订单与销售额 · 按来源与渠道", hint: "Paid orders and revenue by entry source and channel", wide: true,
      query: `ordersBySource(${RANGE}) { cells { source channel orders revenueFen buyers suppressed } totalOrders totalRevenueFen totalSuppressed }`,
      head: ["来源 source", "渠道 channel", "订单数 orders", "销售额 revenue", "买家数 buyers"],
      draw(a) {
        const o = a.ordersBySource;
        const labels = o.cells.map((c) => `${source(c.source)} · ${channel(c.channel)}`);
        const ordersStub = stubFor(o.cells.map((c) => c.orders), state.k);
        const revenueStub = stubFor(o.cells.map((c) => (c.revenueFen === null ? null : c.revenueFen / 100)), 1);
        const option = base("来源 · 渠道 entry source · channel", "订单数 orders", { legend: { top: 0 } });
        option.grid.right = 72;
        option.xAxis.data = labels;
        option.xAxis.axisLabel = { interval: 0, rotate: labels.length > 4 ? 30 : 0, hideOverlap: true };
        option.xAxis.nameGap = labels.length > 4 ? 64 : 32;
        option.grid.bottom = labels.length > 4 ? 88 : 56;
        option.yAxis = [
          { type: "value", name: "订单数 orders", minInterval: 1 },
          { type: "value", name: "销售额 ¥ revenue", axisLabel: { formatter: (v) => `¥${count(v)}` }, splitLine: { show: false } },
        ];
        option.series = [
          {
            type: "bar", name: "订单数 orders", barMaxWidth: 32,
            data: o.cells.map((c, i) => bar(labels[i], c.orders, c.orders === null ? "" : `${count(c.orders)} 单`, ordersStub, { detail: c.buyers === null ? "" : `买家 ${count(c.buyers)} 人 buyers` })),
          },
          {
            type: "bar", name: "销售额 revenue", yAxisIndex: 1, barMaxWidth: 32,
            data: o.cells.map((c, i) => bar(labels[i], c.revenueFen === null ? null : c.revenueFen / 100, c.revenueFen === null ? "" : yuan(c.revenueFen), revenueStub)),
          },
        ];
        const rows = o.cells.map((c) => ({
          key: `${c.source || ""}|${c.channel}`,
          cells: [
            `${source(c.source)} ${c.source === null ? "none" : c.source}`, `${channel(c.channel)} ${c.channel}`,
            c.orders === null ? hidden() : number(c.orders, `${count(c.orders)} 单`),
            c.revenueFen === null ? hidden() : number(c.revenueFen, yuan(c.revenueFen)),
            c.buyers === null ? hidden() : number(c.buyers, `${count(c.buyers)} 人`),
          ],
        }));
        const hideTotal = o.totalSuppressed;
        rows.push({
          key: "total", total: true,
          cells: [
            "合计 total", "",
            hideTotal || o.totalOrders === null ? hidden() : number(o.totalOrders, `${count(o.totalOrders)} 单`),
            hideTotal || o.totalRevenueFen === null ? hidden() : number(o.totalRevenueFen, yuan(o.totalRevenueFen)),
            "",
          ],
        });
        return { option, rows, empty: o.cells.length === 0, cells: o.cells };
      },
    },
    {
      name: "tagCounts", title: "标签人数", hint: "People tagged, per tag",
      query: `tagCounts(${RANGE}) ${BREAKDOWN}`,
      head: ["标签 tag", "人数 people"],
      note: "一人可有多个标签，故无合计。 One person can carry several tags: no total.",
      draw(a) {
        const m = a.tagCounts;
        return {
          option: countChart(m.cells, (k) => k, "标签 tag", true),
          rows: countRows(m.cells, (k) => k),
          empty: m.cells.length === 0,
          cells: m.cells,
        };
      },
    },
    {
      name: "conversionByChannel", title: "转化率 · 按首次渠道", hint: "Conversion: first order within N days of first sight",
      query: `conversionByChannel(${RANGE}, days: $days) ${RATE}`,
      head: ["首次渠道 first channel", "转化率（下单 / 新客） conversion"],
      days: true,
      draw(a) {
        const rates = a.conversionByChannel;
        return {
          option: rateChart(rates, rates.map((r) => channel(r.key)), "首次渠道 first channel"),
          rows: rates.map((r) => ({ key: r.key, cells: [`${channel(r.key)} ${r.key}`, rateCell(r)] })),
          empty: rates.length === 0,
          cells: rates,
        };
      },
    },
    {
      name: "repurchaseRate", title: "复购率", hint: "Repurchase: two or more paid orders among buyers",
      query: `repurchaseRate(${RANGE}) ${RATE}`,
      head: ["指标 measure", "比例（复购 / 购买） share"],
      draw(a) {
        const r = a.repurchaseRate;
        return {
          option: rateChart([r], ["复购率 repurchase"], "复购 repurchase"),
          rows: [{ key: r.key, cells: ["复购率 repurchase", rateCell(r)] }],
          empty: false,
          cells: [r],
        };
      },
    },
    {
      name: "retention", title: "新会员留存 · 7 天与 30 天", hint: "Retention: new members active again within 7 and 30 days",
      query: `retention(${RANGE}) { day7 ${RATE} day30 ${RATE} }`,
      head: ["留存 retention", "比例（回访 / 新会员） share"],
      draw(a) {
        const r = a.retention;
        return {
          option: rateChart([r.day7, r.day30], ["7 天留存 day 7", "30 天留存 day 30"], "留存窗口 window"),
          rows: [
            { key: "day7", cells: ["7 天留存 day 7", rateCell(r.day7)] },
            { key: "day30", cells: ["30 天留存 day 30", rateCell(r.day30)] },
          ],
          empty: false,
          cells: [r.day7, r.day30],
        };
      },
    },
  ];

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
    const days = spec.days ? ", $days: Int!" : "";
    const query = `query Analytics${spec.name[0].toUpperCase()}${spec.name.slice(1)}($from: Date!, $to: Date!${days}) { analytics { minimumGroupSize ${spec.query} } }`;
    const variables = { from: state.from, to: state.to };
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
      const data = await api.gql(query, variables);
      outcome = { analytics: data.analytics };
    } catch (error) {
      outcome = { error };
    }
    // A later range or days setting has been asked for since: this answer is stale.
    if (mine !== card.run || run !== state.run) return outcome;
    card.card.removeAttribute("aria-busy");
    if (card.chart) card.chart.hideLoading();
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
      say(card, `全部分组少于 ${state.k} 人（或无数据），已隐藏。 Every group is under the minimum group size (or empty): all hidden.`, "empty");
    } else if (hiddenCells) {
      say(card, `${hiddenCells} 个分组已隐藏以保护隐私（少于 ${state.k} 人，或可据以推算），图中为灰色斜纹。 ${hiddenCells} hidden for privacy (grey, hatched).`, "muted");
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
    state.k = k;
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
    const days = span(from.value, to.value);
    if (days > MAX_DAYS) return refuse(to, `时间范围最长 ${MAX_DAYS} 天（现为 ${days} 天）。 At most ${MAX_DAYS} days (this is ${days}).`);
    return [from.value, to.value];
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
    else apply(PRESETS.days30(today()), false);
  };
})();
