// What the analyst dashboard's charts are made of (analytics_measures.js and analytics.js,
// loaded after this one): the words for the API's enums, the numbers in words, and ECharts
// options for counts and rates. A suppressed cell (fewer than minimumGroupSize people: null
// numbers) is drawn as a grey hatched bar at a placeholder height with a tooltip saying why,
// never as zero or a gap. Tooltips are elements built with textContent: the console's CSP
// refuses ECharts' default markup tooltips (tests/console/test_echarts_browser.py).
// Shared on window.cdpConsole.parts.analytics.
"use strict";

(function analyticsCharts() {
  const api = window.cdpConsole;
  const { el, yuan } = api.dom;
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
  // The minimum group size the API last answered with (analytics.js sets it).
  const group = { k: null };

  function hint(node, words) {
    const small = el("small", words);
    small.lang = "en";
    node.appendChild(document.createTextNode(" "));
    node.appendChild(small);
    return node;
  }
  function count(n) { return n.toLocaleString("zh-CN"); }
  function percent(rate) { return `${(rate * 100).toFixed(1)}%`; }
  function channel(c) { return CHANNEL[c] || c; }
  function source(s) { return s === null ? "（无来源）" : SOURCE[s] || s; }
  function hiddenWords() { return `已隐藏（少于 ${group.k} 人） hidden`; }
  function why() { return `少于 ${group.k} 人，已隐藏以保护隐私`; }

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
    const stub = stubFor(cells.map((c) => c.count), group.k);
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

  // Answers are per calendar month, once the month is over; conversion and retention wait
  // 30 days more (cdp/graphql/analytics_months.py): a range is one whole month.
  const WAIT = 30;
  function iso(date) { return date.toISOString().slice(0, 10); }
  /** [first, last] day of the calendar month `back` months before `day`'s. */
  function monthBack(day, back) {
    const year = Number(day.slice(0, 4));
    const month = Number(day.slice(5, 7)) - 1 - back;
    return [iso(new Date(Date.UTC(year, month, 1))), iso(new Date(Date.UTC(year, month + 1, 0)))];
  }
  /** The latest month every measure answers: over, and WAIT days after it too. */
  function released(today) {
    for (let back = 1; back < 3; back += 1) {
      const month = monthBack(today, back);
      if (iso(new Date(Date.parse(month[1]) + (1 + WAIT) * 86400000)) <= today) return month;
    }
    return monthBack(today, 3);
  }
  api.parts = api.parts || {};
  api.parts.analytics = {
    monthBack,
    released,
    group, TIER, CHANNEL, PURPOSE, COLORS, HIDDEN_STYLE,
    el, hint, count, percent, yuan, channel, source, why,
    bar, stubFor, base, countChart, countRows, hidden, number, rateCell, totalRow, rateChart,
  };
})();
