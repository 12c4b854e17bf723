// The analyst dashboard's measures: each `analytics` field's trusted document (one per measure,
// in cdp/console/documents.graphql), its chart's title and hint, its table's heads, and
// `draw`, which turns the API's answer into an ECharts option and the rows of the table
// beside it (analytics.js builds the cards and loads them).
// Shared as window.cdpConsole.parts.analytics.CHARTS, with the chart parts of analytics_charts.js.
"use strict";

(function analyticsMeasures() {
  const parts = window.cdpConsole.parts.analytics;
  const { group, TIER, CHANNEL, PURPOSE, COLORS, HIDDEN_STYLE, count, percent, yuan, channel, source } = parts;
  const { bar, stubFor, base, countChart, countRows, hidden, number, rateCell, totalRow, rateChart } = parts;

  const CHARTS = [
    {
      name: "membersByTier", title: "新会员 · 按等级", hint: "New members by tier",
      document: "AnalyticsMembersByTier",
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
      document: "AnalyticsMembersByFirstChannel",
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
      document: "AnalyticsConsentOptInRates",
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
      document: "AnalyticsOrdersBySource",
      head: ["来源 source", "渠道 channel", "订单数 orders", "销售额 revenue", "买家数 buyers"],
      draw(a) {
        const o = a.ordersBySource;
        const labels = o.cells.map((c) => `${source(c.source)} · ${channel(c.channel)}`);
        const ordersStub = stubFor(o.cells.map((c) => c.orders), group.k);
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
      document: "AnalyticsTagCounts",
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
      document: "AnalyticsConversionByChannel",
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
      document: "AnalyticsRepurchaseRate",
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
      document: "AnalyticsRetention",
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

  parts.CHARTS = CHARTS;
})();
