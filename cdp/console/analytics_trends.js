// The analyst dashboard's measures over time (`analytics.series` and `analytics.funnel`, a
// trusted document each in cdp/console/documents.graphql): the twelve months up to the chosen
// one as lines, one per group, or the chosen month's groups as bars. A suppressed month is a gap in its line and "hidden" in the table; a month
// not released yet is left out. Added to window.cdpConsole.parts.analytics.CHARTS after the
// breakdowns of analytics_measures.js (analytics.js builds the cards and loads them).
"use strict";

(function analyticsTrends() {
  const parts = window.cdpConsole.parts.analytics;
  const { group, COLORS, count, percent, base, countChart, hidden, number, monthBack } = parts;
  const LINES = 5; // the groups with the most people get a line each

  /** The twelve months ending with the chosen one. */
  function year(from) { return { from: monthBack(from, 11)[0], to: from }; }
  function month(from, to) { return { from, to }; }

  function trend(name, trusted, title, hint, options) {
    const field = options.funnel ? "funnel" : "series";
    return {
      name, document: trusted, title, hint, wide: true, range: year,
      head: ["分组 group", options.rate ? "最近一月比例 latest month" : "最近一月人数 latest month"],
      draw(a) { return lines(a[field], options.rate, options.label || ((k) => k)); },
    };
  }

  function breakdown(name, trusted, title, hint, axis, label) {
    return {
      name, document: trusted, title, hint, range: month,
      head: [axis, "人数 people"],
      draw(a) {
        const point = a.series.find((p) => p.released);
        const cells = point ? point.cells.map((c) => ({ key: c.key, count: c.suppressed ? null : c.people })) : [];
        return {
          option: countChart(cells, label || ((k) => k), axis),
          rows: cells.map((c) => ({ key: c.key, cells: [(label || ((k) => k))(c.key), c.count === null ? hidden() : number(c.count, `${count(c.count)} 人`)] })),
          empty: cells.length === 0,
          cells: cells.map((c) => ({ suppressed: c.count === null })),
        };
      },
    };
  }

  function lines(points, rate, label) {
    const shown = points.filter((p) => p.released);
    const months = shown.map((p) => p.starts.slice(0, 7));
    const weight = {};
    for (const p of shown) for (const c of p.cells) weight[c.key] = (weight[c.key] || 0) + (c.people || 0);
    const keys = Object.keys(weight).sort((x, y) => weight[y] - weight[x] || (x < y ? -1 : 1)).slice(0, LINES);
    const value = (c) => (!c || c.suppressed ? null : rate ? (c.rate === null ? null : Math.round(c.rate * 1000) / 10) : c.people);
    const words = (c) => (rate ? `${percent(c.rate)}（${count(c.did)} / ${count(c.people)}）` : `${count(c.people)} 人`);
    const series = keys.map((key) => ({
      type: "line", name: label(key), connectNulls: false, showSymbol: true,
      data: shown.map((p) => {
        const c = p.cells.find((x) => x.key === key);
        const v = value(c);
        return v === null ? { value: null, suppressed: true } : { value: v, text: words(c) + (c.complete ? "" : "（仅计可显示的日子 shown days only）") };
      }),
    }));
    const option = base("月份 month", rate ? "比例 % share" : "人数 people");
    option.xAxis.data = months;
    option.color = COLORS;
    option.legend = { top: 8, type: "scroll" };
    option.series = series;
    if (rate) option.yAxis.axisLabel = { formatter: "{value}%" };
    const last = shown[shown.length - 1];
    const cells = keys.map((key) => (last ? last.cells.find((x) => x.key === key) : null) || { suppressed: true });
    return {
      option,
      rows: keys.map((key, i) => ({ key, cells: [label(key), value(cells[i]) === null ? hidden() : number(value(cells[i]), words(cells[i]))] })),
      empty: keys.length === 0,
      cells: cells.map((c) => ({ suppressed: value(c) === null })),
    };
  }

  const step = (k) => ({ 1: "1 阅读文章 read", 2: "2 进入小程序 mini-program", 3: "3 下单 order" })[k] || k;
  parts.CHARTS.push(
    trend("trendFunnel", "AnalyticsTrendFunnel", "漏斗 · 公众号文章 → 小程序 → 下单", "Funnel: article read, mini-program visit, order within 7 days", { rate: true, label: step, funnel: true }),
    trend("trendFollowConversion", "AnalyticsTrendFollowConversion", "关注转化率 · 30 天内下单", "Follow conversion: followers who ordered within 30 days, per QR scene", { rate: true }),
    trend("trendFanRetention", "AnalyticsTrendFanRetention", "粉丝 30 天留存", "Fan retention: followers still following 30 days later", { rate: true }),
    trend("trendEntryConversion", "AnalyticsTrendEntryConversion", "入口转化率 · 按 from/type/id", "Conversion by entry (from|type|id)", { rate: true }),
    trend("trendMultiApp", "AnalyticsTrendMultiApp", "多载体互动率", "Multi-app interaction rate (people-days)", { rate: true }),
    trend("trendRepurchase", "AnalyticsTrendRepurchase", "30 天复购率 · 按来源", "Repurchase within 30 days, per entry source", { rate: true }),
    trend("trendMenuClicks", "AnalyticsTrendMenuClicks", "菜单点击率", "Menu click-through: clickers among official-account visitors", { rate: true }),
    trend("trendArticleClicks", "AnalyticsTrendArticleClicks", "文章点击率 · 进入小程序", "Article click-through into the mini-program", { rate: true }),
    breakdown("monthActiveHours", "AnalyticsMonthActiveHours", "活跃时段 · 按小时", "Active people per hour of day (person-days)", "小时 hour"),
    breakdown("monthLapsed", "AnalyticsMonthLapsed", "沉睡会员 · 距上次到访天数", "Members by days since last seen, at the month's end", "天数 days"),
    breakdown("monthAgeBands", "AnalyticsMonthAgeBands", "新会员 · 年龄段", "New members by birth cohort", "出生年份 cohort"),
    breakdown("monthProvinces", "AnalyticsMonthProvinces", "新会员 · 省份", "New members by province", "省份 province"),
  );
  group.trends = true;
})();
