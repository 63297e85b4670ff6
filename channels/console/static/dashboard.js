// Supervisors' analytics dashboard: figures from /api/analytics/summary drawn with Chart.js
// (vendored), pain points from /api/analytics/painpoints, both exportable as CSV.
(function () {
  "use strict";
  const STRINGS = {
    zh: {
      "title": "数据看板", "nav.supervisor": "主管视图", "from": "开始", "to": "结束",
      "granularity": "粒度", "day": "按天", "week": "按周", "channel": "渠道", "language": "语言",
      "intent": "意图", "agent": "客服", "apply": "查询", "csv": "导出 CSV", "all": "全部",
      "none": "（无）", "chart.volume": "会话量与转人工",
      "chart.rates": "自助解决率、首次解决率、兜底率", "chart.sentiment": "情绪趋势",
      "chart.reasons": "转人工原因", "chart.channel": "各渠道会话", "table.agents": "客服",
      "table.intents": "热门意图", "table.unanswered": "未能回答的问题",
      "table.painpoints": "痛点（负面反馈按话题聚类）",
      "painpoints.hint": "负面消息、工单与不满意评价的留言按语义聚类，以最有代表性的一句命名；趋势为最近 7 天对比前 7 天。",
      "sources": "来源", "source.message": "对话", "source.ticket": "工单", "source.csat": "满意度评价",
      "question": "问题", "asked": "次数", "topic": "话题", "size": "条数", "trend": "趋势",
      "examples": "例子", "empty": "暂无数据", "up": "上升", "down": "下降", "flat": "持平",
      "kpi.conversations": "会话", "kpi.containment_rate": "自助解决率", "kpi.handoffs": "转人工",
      "kpi.handoff_rate": "转人工率", "kpi.fallback_rate": "兜底率",
      "kpi.knowledge_answer_rate": "知识库回答率", "kpi.knowledge_abstain_rate": "知识库弃答率",
      "kpi.fcr_rate": "首次解决率", "kpi.avg_handle_s": "平均处理时长(秒)",
      "kpi.avg_wait_s": "平均等待(秒)", "kpi.csat_avg": "满意度", "kpi.sentiment_avg": "平均情绪",
      "kpi.tickets": "工单", "kpi.sla_compliance": "SLA 达成率",
    },
    en: {
      "title": "Analytics", "nav.supervisor": "Supervisor view", "from": "From", "to": "To",
      "granularity": "Granularity", "day": "Daily", "week": "Weekly", "channel": "Channel",
      "language": "Language", "intent": "Intent", "agent": "Agent", "apply": "Apply",
      "csv": "Export CSV", "all": "All", "none": "(none)", "chart.volume": "Conversations and handoffs",
      "chart.rates": "Containment, first-contact resolution, fallback",
      "chart.sentiment": "Sentiment trend", "chart.reasons": "Handoff reasons",
      "chart.channel": "Conversations by channel", "table.agents": "Agents",
      "table.intents": "Top intents", "table.unanswered": "Top unanswered questions",
      "table.painpoints": "Pain points (negative feedback clustered by topic)",
      "painpoints.hint": "Negative messages, tickets and unhappy satisfaction comments grouped by meaning, named by their most central text; trend: last 7 days against the 7 before.",
      "sources": "Sources", "source.message": "chat", "source.ticket": "tickets", "source.csat": "CSAT comments",
      "question": "Question", "asked": "Asked", "topic": "Topic", "size": "Texts", "trend": "Trend",
      "examples": "Examples", "empty": "No data", "up": "up", "down": "down", "flat": "flat",
      "kpi.conversations": "Conversations", "kpi.containment_rate": "Containment",
      "kpi.handoffs": "Handoffs", "kpi.handoff_rate": "Handoff rate", "kpi.fallback_rate": "Fallback rate",
      "kpi.knowledge_answer_rate": "Knowledge answer rate",
      "kpi.knowledge_abstain_rate": "Knowledge abstain rate", "kpi.fcr_rate": "First-contact resolution",
      "kpi.avg_handle_s": "Avg handle time (s)", "kpi.avg_wait_s": "Avg wait (s)",
      "kpi.csat_avg": "CSAT", "kpi.sentiment_avg": "Avg sentiment", "kpi.tickets": "Tickets",
      "kpi.sla_compliance": "SLA compliance",
    },
  };
  const KPIS = ["conversations", "containment_rate", "handoffs", "handoff_rate", "fallback_rate",
    "knowledge_answer_rate", "knowledge_abstain_rate", "fcr_rate", "avg_handle_s", "avg_wait_s",
    "csat_avg", "sentiment_avg", "tickets", "sla_compliance"];
  const RATES = new Set(["containment_rate", "handoff_rate", "fallback_rate", "knowledge_answer_rate",
    "knowledge_abstain_rate", "fcr_rate", "sla_compliance"]);
  const DIMS = ["channel", "language", "intent", "agent"];
  const $ = (id) => document.getElementById(id);
  const d = (key) => { const lang = window.I18N.lang; return (STRINGS[lang] || STRINGS.en)[key] || key; };
  const charts = {};
  let report = null;
  let painpoints = null;

  function applyStrings() {
    document.querySelectorAll("[data-dash]").forEach((el) => { el.textContent = d(el.getAttribute("data-dash")); });
  }

  function format(name, value) {
    if (value === null || value === undefined) return "–";
    if (RATES.has(name)) return (value * 100).toFixed(1) + "%";
    return String(value);
  }

  function cell(text) { const td = document.createElement("td"); td.textContent = String(text); return td; }

  function rows(target, items, build, columns) {
    const out = items.map((item) => { const tr = document.createElement("tr"); tr.append(...build(item)); return tr; });
    if (!out.length) {
      const td = cell(d("empty")); td.colSpan = columns;
      const tr = document.createElement("tr"); tr.append(td); out.push(tr);
    }
    $(target).replaceChildren(...out);
  }

  function query() {
    const params = new URLSearchParams({ from: $("from").value, to: $("to").value, granularity: $("granularity").value });
    DIMS.forEach((name) => { const v = $(name).value; if (v !== "*") params.set(name, v); });
    return params;
  }

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart($(id), { ...config, options: { animation: false, responsive: true, ...(config.options || {}) } });
  }

  function draw() {
    if (!report) return;
    $("kpis").replaceChildren(...KPIS.map((name) => {
      const box = document.createElement("div"); box.className = "kpi"; box.id = "kpi-" + name;
      const label = document.createElement("span"); label.className = "name"; label.textContent = d("kpi." + name);
      const value = document.createElement("span"); value.className = "value"; value.textContent = format(name, report.totals[name]);
      box.append(label, value); return box;
    }));
    const periods = report.series.map((p) => p.period);
    const pct = (key) => report.series.map((p) => p[key] === null ? null : +(p[key] * 100).toFixed(1));
    chart("chart-volume", { type: "bar", data: { labels: periods, datasets: [
      { label: d("kpi.conversations"), data: report.series.map((p) => p.conversations), backgroundColor: "#1f6feb" },
      { label: d("kpi.handoffs"), data: report.series.map((p) => p.handoffs), backgroundColor: "#c62828" }] } });
    chart("chart-rates", { type: "line", data: { labels: periods, datasets: [
      { label: d("kpi.containment_rate"), data: pct("containment_rate"), borderColor: "#2e7d32" },
      { label: d("kpi.fcr_rate"), data: pct("fcr_rate"), borderColor: "#1f6feb" },
      { label: d("kpi.fallback_rate"), data: pct("fallback_rate"), borderColor: "#b26a00" }] },
      options: { scales: { y: { min: 0, max: 100 } } } });
    chart("chart-sentiment", { type: "line", data: { labels: periods, datasets: [
      { label: d("kpi.sentiment_avg"), data: report.series.map((p) => p.sentiment_avg), borderColor: "#6a1b9a" }] },
      options: { scales: { y: { min: -1, max: 1 } } } });
    chart("chart-reasons", { type: "doughnut", data: {
      labels: report.handoff_reasons.map((r) => window.I18N.t("reason." + r.reason)),
      datasets: [{ data: report.handoff_reasons.map((r) => r.count) }] } });
    chart("chart-channel", { type: "bar", data: { labels: report.by.channel.map((g) => g.key || d("none")),
      datasets: [{ label: d("kpi.conversations"), data: report.by.channel.map((g) => g.conversations), backgroundColor: "#1f6feb" }] } });
    rows("agents", report.by.agent.filter((g) => g.key), (g) => [cell(g.key), cell(g.handoffs),
      cell(format("avg_handle_s", g.avg_handle_s)), cell(format("avg_wait_s", g.avg_wait_s)), cell(format("csat_avg", g.csat_avg))], 5);
    rows("intents", report.top_intents, (i) => [cell(i.intent), cell(i.conversations)], 2);
    rows("unanswered", report.top_unanswered, (q) => [cell(q.question), cell(q.asked)], 2);
    drawPainpoints();
  }

  function drawPainpoints() {
    if (!painpoints) return;
    rows("painpoints", painpoints.topics, (p) => {
      const label = [p.label.zh, p.label.en].filter(Boolean).join(" / ");
      const trend = cell(`${d(p.trend)} (${p.last_week} → ${p.this_week})`);
      trend.className = "trend-" + p.trend;
      const sources = Object.entries(p.by_source).map(([name, n]) => `${d("source." + name)} ${n}`);
      const examples = p.examples.map((text, i) => `[${d("source." + p.example_sources[i])}] ${text}`);
      return [cell(label), cell(p.size), cell(sources.join(" · ")), trend, cell(examples.join(" | "))];
    }, 5);
  }

  function fillFilters() {
    DIMS.forEach((name) => {
      const select = $(name); const current = select.value || "*";
      const keys = report.by[name].map((g) => g.key);
      if (current !== "*" && !keys.includes(current)) keys.push(current);
      const options = [["*", d("all")], ...keys.map((k) => [k, k || d("none")])].map(([value, text]) => {
        const o = document.createElement("option"); o.value = value; o.textContent = text; return o;
      });
      select.replaceChildren(...options); select.value = current;
    });
  }

  async function fetchJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  async function load() {
    const params = query();
    $("csv").href = "/api/analytics/summary.csv?" + params;
    const range = new URLSearchParams({ from: params.get("from"), to: params.get("to") });
    $("painpoints-csv").href = "/api/analytics/painpoints.csv?" + range;
    try {
      report = await fetchJson("/api/analytics/summary?" + params);
      $("dash-error").textContent = "";
      fillFilters();
      draw();
      document.body.dataset.loaded = "summary";
      painpoints = await fetchJson("/api/analytics/painpoints?" + range);
      drawPainpoints();
      document.body.dataset.loaded = "all";
    } catch (error) {
      $("dash-error").textContent = error.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const today = new Date();
    const start = new Date(today.getTime() - 29 * 86400000);
    const iso = (x) => x.toISOString().slice(0, 10);
    const params = new URLSearchParams(location.search);
    $("from").value = params.get("from") || iso(start);
    $("to").value = params.get("to") || iso(today);
    DIMS.forEach((name) => { const o = document.createElement("option"); o.value = "*"; o.textContent = d("all"); $(name).append(o); });
    applyStrings();
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    load();
  });
  document.addEventListener("langchange", () => { applyStrings(); if (report) { fillFilters(); draw(); } });
  window.DASHBOARD = { charts, get report() { return report; } };
})();
