// Supervisors' marketing page: saved segments and previews (counts, sample members), the
// campaign builder (segment -> approved copy per arm -> schedule -> experiment), campaigns with
// their status, live results per arm with a chart (the vendored Chart.js the dashboard uses),
// and the copy desk's approve / edit / reject, all through /api/marketing with the console
// session (api.js sends the CSRF token). Every text from the server is put into the page as
// text (textContent), never as HTML.
(function () {
  "use strict";
  const STRINGS = {
    zh: {
      "title": "营销", "segments": "人群", "name": "名称", "expression": "条件", "preview": "预览",
      "customer": "客户", "channel": "渠道", "language": "语言", "consented": "已同意",
      "yes": "是", "no": "否", "campaigns": "活动", "run": "立即发送到期消息", "kind": "类型",
      "status": "状态", "sent": "已发送", "skipped": "已跳过", "failed": "失败", "held_out": "对照组",
      "clicks": "点击（独立）", "conversions": "转化", "revenue": "收入", "copy": "文案审核",
      "copyCampaign": "文案批次", "pending": "待审核", "approved": "已通过", "rejected": "已拒绝",
      "blocked": "已拦截", "load": "读取", "approve": "通过", "reject": "拒绝", "edit": "修改",
      "save": "保存修改", "empty": "暂无数据", "once": "单次", "triggered": "触发式",
      "scheduled": "已排期", "taking": "圈选中", "running": "发送中", "done": "已完成",
      "counts": "全部 {audience} 人，符合 {matched} 人，可触达 {reachable} 人",
      "anonymous_webchat": "另有 {count} 位未经商城网站识别身份的网页聊天访客（近 30 天）不是营销联系人：匿名会话背后没有确定的人，无法征得营销同意。",
      "ran": "新增 {added} 位收件人；{outcomes}", "problems": "检查发现：",
      "loginFirst": "请先以主管身份登录工作台。",
      "build": "新建活动", "stepSegment": "1. 人群", "savedSegment": "已存人群",
      "stepContent": "2. 文案（仅限已审核通过）", "loadApproved": "读取已通过文案", "url": "跟踪链接",
      "text": "文案", "arm": "分组", "stepSchedule": "3. 时间", "onceAt": "单次（在开始时间发送）",
      "triggeredUntil": "触发式（持续到结束时间）", "startsAt": "开始", "endsAt": "结束",
      "stepExperiment": "4. 实验", "experiment": "实验", "noExperiment": "无",
      "abn": "A/B/n（固定分流）", "bandit": "Thompson 多臂老虎机", "holdOut": "对照组 %",
      "horizon": "每组样本量", "waves": "分批（单次活动）", "waveEvery": "每批间隔（小时）",
      "waveOf": "分批 {taken}/{waves}", "create": "创建活动", "unused": "不使用",
      "created": "已创建活动“{name}”（编号 {id}）", "results": "活动效果", "campaign": "活动",
      "recipients": "收件人", "rate": "转化率（95% 区间）", "uplift": "相对对照组提升（区间）",
      "heldOutArm": "{name}（对照组，不发送）", "summary": "状态：{status}；收入 {revenue}",
      "needArm": "请至少为一个分组选择已通过的文案。",
      "oneArm": "不做实验时只能有一个分组（都选 A）。",
      "noApproved": "该批次没有已通过的文案。",
      "draftTitle": "撰写新文案（写入上面的文案批次，经检查后待审核）", "count": "条数",
      "products": "商品编号（逗号分隔）", "discounts": "折扣 %（逗号分隔）",
      "claims": "卖点（逗号分隔）", "write": "撰写",
      "drafted": "已撰写 {n} 条：{pending} 条待审核，{blocked} 条被检查拦截",
      "deliveryTitle": "投递情况", "queued": "排队中", "accepted": "渠道已接收",
      "delivered": "已送达", "read": "已读", "undelivered": "投递失败", "deferred": "限速延后",
      "rate_limited": "限速延后", "knownAs": "{channel}：{known}",
      "budget": "预算分配",
      "budgetHelp": "按已存人群在各渠道过去活动的转化率（后验均值），把预算分到最可能带来转化的人群和渠道。",
      "budgetAmount": "预算", "budgetCosts": "每条成本（渠道=金额，逗号分隔）",
      "budgetSegments": "人群（逗号分隔；空 = 全部已存人群）", "plan": "分配", "segment": "人群",
      "reachable": "可触达", "history": "过去：已发送 / 转化", "posterior": "转化率（90% 区间）",
      "planned": "计划发送", "spend": "花费", "expected": "预期转化",
      "budgetSummary": "计划花费 {spend}（预算 {budget}），预期转化 {expected}；平均分配预期 {even}。",
      "badCost": "每条成本写成“渠道=金额”，例如 sms=0.3，而不是“{pair}”",
    },
    en: {
      "title": "Marketing", "segments": "Segments", "name": "Name", "expression": "Expression",
      "preview": "Preview", "customer": "Customer", "channel": "Channel", "language": "Language",
      "consented": "Opted in", "yes": "yes", "no": "no", "campaigns": "Campaigns",
      "run": "Send what is due now", "kind": "Kind", "status": "Status", "sent": "Sent",
      "skipped": "Skipped", "failed": "Failed", "held_out": "Held out", "clicks": "Clicks (unique)",
      "conversions": "Conversions", "revenue": "Revenue", "copy": "Copy review",
      "copyCampaign": "Copy batch", "pending": "Pending", "approved": "Approved",
      "rejected": "Rejected", "blocked": "Blocked", "load": "Load", "approve": "Approve",
      "reject": "Reject", "edit": "Edit", "save": "Save edit", "empty": "No data",
      "once": "one-off", "triggered": "triggered", "scheduled": "scheduled", "taking": "selecting",
      "running": "sending", "done": "done",
      "counts": "{audience} in the audience, {matched} match, {reachable} reachable",
      "anonymous_webchat": "{count} web-chat visitors (last 30 days) whom the shop's site did not identify are no contacts: an anonymous session has no stable person behind it to give marketing consent.",
      "ran": "{added} recipients added; {outcomes}", "problems": "The checker found: ",
      "loginFirst": "Log in to the console as a supervisor first.",
      "build": "New campaign", "stepSegment": "1. Segment", "savedSegment": "Saved segment",
      "stepContent": "2. Copy (approved only)", "loadApproved": "Load approved copy", "url": "Tracked link",
      "text": "Copy", "arm": "Arm", "stepSchedule": "3. Schedule", "onceAt": "Once (at the start)",
      "triggeredUntil": "Triggered (until the end)", "startsAt": "Starts", "endsAt": "Ends",
      "stepExperiment": "4. Experiment", "experiment": "Experiment", "noExperiment": "None",
      "abn": "A/B/n (fixed split)", "bandit": "Thompson bandit", "holdOut": "Hold-out %",
      "horizon": "Recipients per arm", "waves": "Waves (one-off)", "waveEvery": "Hours between waves",
      "waveOf": "waves {taken}/{waves}", "create": "Create campaign", "unused": "not used",
      "created": "Campaign \u201c{name}\u201d created (id {id})", "results": "Campaign results",
      "campaign": "Campaign", "recipients": "Recipients", "rate": "Conversion rate (95% interval)",
      "uplift": "Uplift over hold-out (interval)", "heldOutArm": "{name} (hold-out, sent nothing)",
      "summary": "Status: {status}; revenue {revenue}",
      "needArm": "Choose approved copy for at least one arm.",
      "oneArm": "Without an experiment there is one arm (choose A for all).",
      "noApproved": "This batch has no approved copy.",
      "draftTitle": "Write new copy (into the copy batch above; checked, then waiting for review)",
      "count": "How many", "products": "Product ids (comma-separated)",
      "discounts": "Discounts % (comma-separated)", "claims": "Claims (comma-separated)",
      "write": "Write", "drafted": "{n} written: {pending} waiting for review, {blocked} blocked by the checker",
      "deliveryTitle": "Delivery", "queued": "Queued", "accepted": "Accepted by the channel",
      "delivered": "Delivered", "read": "Read", "undelivered": "Failed", "deferred": "Deferred (rate)",
      "rate_limited": "deferred (rate)", "knownAs": "{channel}: {known}",
      "budget": "Budget plan",
      "budgetHelp": "Splits a budget across saved segments and channels by the conversion rates their past campaigns earned (posterior means).",
      "budgetAmount": "Budget", "budgetCosts": "Cost per message (channel=amount, comma-separated)",
      "budgetSegments": "Segments (comma-separated; empty = every saved one)", "plan": "Plan",
      "segment": "Segment", "reachable": "Reachable", "history": "Past: sent / converted",
      "posterior": "Conversion rate (90% interval)", "planned": "Planned sends", "spend": "Spend",
      "expected": "Expected conversions",
      "budgetSummary": "Planned spend {spend} (budget {budget}), {expected} expected conversions; an even split expects {even}.",
      "badCost": "Write each cost as channel=amount, e.g. sms=0.3, not \u201c{pair}\u201d",
    },
  };
  const $ = (id) => document.getElementById(id);
  const d = (key) => { const lang = window.I18N.lang; return (STRINGS[lang] || STRINGS.en)[key] || key; };
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
  const state = {
    me: null, campaigns: [], reports: {}, preview: null, variants: [], saved: {},
    approved: [], picks: {}, builderPreview: null, shown: null, plan: null,
  };
  const ARMS = ["A", "B", "C", "D", "E"];
  const REFRESH_MS = 10000;
  let chart = null;

  const call = window.ConsoleApi.call;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function button(label, onClick, className) {
    const b = el("button", d(label), className);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function rows(target, items, build, columns) {
    const out = items.map((item) => { const tr = el("tr"); tr.append(...build(item)); return tr; });
    if (!out.length) {
      const td = el("td", d("empty")); td.colSpan = columns;
      const tr = el("tr"); tr.append(td); out.push(tr);
    }
    $(target).replaceChildren(...out);
  }

  function fail(error) { $("mk-error").textContent = error.message; }
  function ok() { $("mk-error").textContent = ""; }

  function applyStrings() {
    document.querySelectorAll("[data-mk]").forEach((node) => { node.textContent = d(node.getAttribute("data-mk")); });
  }

  // ---- budget plan ------------------------------------------------------------------------
  function costs() {
    const out = {};
    for (const pair of $("g-costs").value.split(/[,，]/).map((x) => x.trim()).filter(Boolean)) {
      const [channel, amount] = pair.split("=").map((x) => x.trim());
      if (!channel || amount === undefined || amount === "" || Number.isNaN(Number(amount))) {
        throw new Error(fill(d("badCost"), { pair }));
      }
      out[channel] = Number(amount);
    }
    return out;
  }

  async function planBudget() {
    try {
      const segments = $("g-segments").value.split(/[,，]/).map((x) => x.trim()).filter(Boolean);
      state.plan = await call("POST", "/api/marketing/budget/plan",
        { budget: Number($("g-budget").value), cost: costs(), segments });
      ok();
      drawPlan();
    } catch (error) { fail(error); }
  }

  function drawPlan() {
    const plan = state.plan;
    if (!plan) return;
    const pct = (x) => `${(100 * x).toFixed(1)}%`;
    $("g-summary").textContent = fill(d("budgetSummary"), {
      spend: plan.spend.toFixed(2), budget: plan.budget.toFixed(2),
      expected: plan.expected_conversions.toFixed(1), even: plan.even_split_conversions.toFixed(1),
    });
    rows("g-rows", plan.cells, (c) => [el("td", c.segment), el("td", c.channel),
      el("td", c.reachable), el("td", `${c.sent} / ${c.conversions}`),
      el("td", `${pct(c.rate)} (${pct(c.interval[0])}–${pct(c.interval[1])})`), el("td", c.sends),
      el("td", c.spend.toFixed(2)), el("td", c.expected_conversions.toFixed(1))], 8);
  }

  // ---- segments ---------------------------------------------------------------------------
  async function loadSegments() {
    const saved = await call("GET", "/api/marketing/segments");
    state.saved = saved;
    const options = [new Option("—", "")];
    for (const name of Object.keys(saved)) options.push(new Option(name, name));
    $("b-saved").replaceChildren(...options);
    rows("seg-rows", Object.entries(saved), ([name, expression]) => {
      const use = button("preview", () => { $("expression").value = expression; preview(); });
      const cell = el("td"); cell.append(use);
      return [el("td", name), el("td", expression, "mono"), cell];
    }, 3);
  }

  async function preview() {
    try {
      state.preview = await call("POST", "/api/marketing/segments/preview",
        { expression: $("expression").value, sample: 10 });
      ok();
      drawPreview();
    } catch (error) { fail(error); }
  }

  // A preview's counts, then who is outside the audience altogether and why.
  function countsText(p) {
    const outside = (p.excluded || []).map((e) =>
      e.reason === "anonymous_webchat" ? fill(d("anonymous_webchat"), e) : e.detail);
    return [fill(d("counts"), p), ...outside].join(" ");
  }

  function drawPreview() {
    const p = state.preview;
    if (!p) return;
    $("preview-counts").textContent = countsText(p);
    rows("preview-rows", p.sample, (m) => [el("td", m.customer_id), el("td", m.channel),
      el("td", m.language || "–"), el("td", d(m.consented ? "yes" : "no"))], 4);
  }

  // ---- campaigns --------------------------------------------------------------------------
  async function loadCampaigns() {
    state.campaigns = await call("GET", "/api/marketing/campaigns");
    for (const c of state.campaigns) state.reports[c.id] = await call("GET", `/api/marketing/campaigns/${c.id}`);
    drawCampaigns();
    drawCampaignChoice();
    drawResults();
  }

  function drawCampaigns() {
    rows("camp-rows", state.campaigns, (c) => {
      const r = state.reports[c.id];
      const n = (status) => (r && r.statuses[status]) || 0;
      const waves = c.waves > 1 ? ` · ${fill(d("waveOf"), { taken: c.waves_taken, waves: c.waves })}` : "";
      const row = [el("td", c.name), el("td", d(c.kind)), el("td", d(c.status) + waves),
        el("td", n("sent")), el("td", n("skipped")), el("td", n("failed")), el("td", n("held_out")),
        el("td", r ? `${r.clicks} (${r.unique_clicks})` : "–"), el("td", r ? r.conversions : "–"),
        el("td", r ? r.revenue.toFixed(2) : "–")];
      row[0].dataset.campaign = String(c.id);
      return row;
    }, 10);
  }

  async function runDue() {
    try {
      const result = await call("POST", "/api/marketing/campaigns/run");
      const outcomes = Object.entries(result.outcomes).map(([k, v]) => `${d(k)} ${v}`).join(", ") || "–";
      $("run-result").textContent = fill(d("ran"), { added: result.recipients_added, outcomes });
      ok();
      await loadCampaigns();
    } catch (error) { fail(error); }
  }

  // ---- the campaign builder ---------------------------------------------------------------
  async function builderPreview() {
    try {
      state.builderPreview = await call("POST", "/api/marketing/segments/preview",
        { expression: $("b-segment").value, sample: 5 });
      ok();
      drawBuilderPreview();
    } catch (error) { fail(error); }
  }

  function drawBuilderPreview() {
    const p = state.builderPreview;
    if (!p) return;
    $("b-counts").textContent = countsText(p);
    $("b-sample").replaceChildren(...p.sample.map((m) =>
      el("li", `${m.customer_id} · ${m.channel} · ${m.language || "–"}`)));
  }

  async function loadApproved() {
    const batch = $("b-copy").value.trim();
    try {
      state.approved = await call("GET", `/api/marketing/copy/${encodeURIComponent(batch)}?status=approved`);
      state.picks = {};
      ok();
      if (!state.approved.length) fail(new Error(d("noApproved")));
      drawApproved();
    } catch (error) { fail(error); }
  }

  function drawApproved() {
    rows("b-variants", state.approved, (v) => {
      const pick = el("select");
      pick.setAttribute("aria-label", `${d("arm")} #${v.id}`);
      pick.dataset.variant = String(v.id);
      pick.append(new Option(d("unused"), ""), ...ARMS.map((a) => new Option(a, a)));
      pick.value = state.picks[v.id] || "";
      pick.addEventListener("change", () => { state.picks[v.id] = pick.value; });
      const cell = el("td"); cell.append(pick);
      return [el("td", v.id), el("td", v.language), el("td", v.final_text, "text"), cell];
    }, 4);
  }

  function instant(value) { return value ? new Date(value).toISOString() : null; }

  async function createCampaign() {
    const arms = {};
    for (const v of state.approved) {
      const arm = state.picks[v.id];
      if (arm) (arms[arm] = arms[arm] || []).push(v.id);
    }
    const policy = $("b-experiment").value;
    if (!Object.keys(arms).length) { fail(new Error(d("needArm"))); return; }
    if (policy === "none" && Object.keys(arms).length !== 1) { fail(new Error(d("oneArm"))); return; }
    const body = {
      name: $("b-name").value.trim(), segment: $("b-segment").value,
      variants: policy === "none" ? { main: Object.values(arms)[0] } : arms,
      url: $("b-url").value.trim() || null, kind: $("b-kind").value,
      starts_at: instant($("b-start").value), ends_at: instant($("b-end").value),
      waves: Number($("b-waves").value) || 1,
    };
    if (body.waves > 1) body.wave_every_hours = Number($("b-wave-every").value);
    if (policy !== "none") {
      body.experiment = { policy, hold_out_share: Number($("b-holdout").value) / 100,
        horizon: Number($("b-horizon").value) };
    }
    try {
      const created = await call("POST", "/api/marketing/campaigns", body);
      ok();
      $("b-result").textContent = fill(d("created"), created);
      state.shown = created.id;
      await loadCampaigns();
    } catch (error) { fail(error); }
  }

  // ---- live results -------------------------------------------------------------------------
  function drawCampaignChoice() {
    const pick = $("r-campaign");
    if (state.shown === null && state.campaigns.length) state.shown = state.campaigns[0].id;
    pick.replaceChildren(...state.campaigns.map((c) => new Option(c.name, String(c.id))));
    if (state.shown !== null) pick.value = String(state.shown);
  }

  const percent = (x) => `${(100 * x).toFixed(1)}%`;
  const signed = (x) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;

  function drawResults() {
    const report = state.reports[state.shown];
    if (!report) return;
    $("r-summary").textContent = fill(d("summary"),
      { status: d(report.campaign.status), revenue: report.revenue.toFixed(2) });
    rows("r-arms", report.arms, (a) => {
      const rate = a.conversion_rate === null ? "–"
        : `${percent(a.conversion_rate)} (${a.rate_interval ? a.rate_interval.map(percent).join("–") : "–"})`;
      const uplift = a.uplift === null ? "–"
        : `${signed(a.uplift)} (${a.uplift_interval ? a.uplift_interval.map(signed).join(" … ") : "–"})`;
      const name = a.held_out ? fill(d("heldOutArm"), a) : a.name;
      const tr = [el("td", name), el("td", a.recipients), el("td", a.sent), el("td", a.unique_clicks),
        el("td", a.conversions), el("td", rate), el("td", uplift)];
      tr[0].dataset.arm = a.name;
      return tr;
    }, 7);
    drawDelivery(report);
    drawChart(report);
  }

  // What became of the messages sent, per arm, and what each channel can tell at all (most
  // report nothing after accepting a message: "accepted by the channel" is what is known).
  function drawDelivery(report) {
    const sent = report.arms.filter((a) => !a.held_out);
    rows("r-delivery", sent, (a) => {
      const n = (state) => a.delivery[state] || 0;
      const tr = [el("td", a.name), el("td", n("queued")), el("td", n("sent")), el("td", n("delivered")),
        el("td", n("read")), el("td", n("failed")), el("td", a.deferred)];
      tr[0].dataset.arm = a.name;
      return tr;
    }, 7);
    // The server's notes in the console's language (the API gives both).
    const notes = window.I18N.lang === "zh" ? report.delivery_known_zh : report.delivery_known;
    $("r-known").replaceChildren(...Object.entries(notes).map(([channel, known]) =>
      el("li", fill(d("knownAs"), { channel, known }))));
  }

  function drawChart(report) {
    if (!window.Chart) return;
    const data = {
      labels: report.arms.map((a) => a.name),
      datasets: [
        { label: d("sent"), data: report.arms.map((a) => a.sent) },
        { label: d("clicks"), data: report.arms.map((a) => a.unique_clicks) },
        { label: d("conversions"), data: report.arms.map((a) => a.conversions) },
      ],
    };
    if (chart) { chart.data = data; chart.update(); return; }
    chart = new window.Chart($("r-chart"), { type: "bar", data,
      options: { animation: false, responsive: true, aspectRatio: 4, scales: { y: { beginAtZero: true } } } });
  }

  async function refreshShown() {
    if (state.shown === null || document.hidden) return;
    try {
      state.reports[state.shown] = await call("GET", `/api/marketing/campaigns/${state.shown}`);
      drawResults();
    } catch (error) { fail(error); }
  }

  // ---- the copy desk ----------------------------------------------------------------------
  async function loadVariants() {
    const campaign = encodeURIComponent($("copy-campaign").value.trim());
    const status = $("copy-status").value;
    try {
      state.variants = await call("GET", `/api/marketing/copy/${campaign}?status=${status}`);
      ok();
      drawVariants();
    } catch (error) { fail(error); }
  }

  const list = (value) => value.split(/[,，]/).map((x) => x.trim()).filter(Boolean);

  async function draft() {
    const body = {
      campaign: $("copy-campaign").value.trim(), language: $("d-language").value,
      n: Number($("d-n").value),
      brief: { products: list($("d-products").value), discounts: list($("d-discounts").value).map(Number),
        claims: list($("d-claims").value), channel: $("d-channel").value },
    };
    try {
      const written = await call("POST", "/api/marketing/copy/drafts", body);
      const blocked = written.filter((v) => v.status === "blocked").length;
      $("d-result").textContent = fill(d("drafted"),
        { n: written.length, pending: written.length - blocked, blocked });
      ok();
      $("copy-status").value = "pending";
      await loadVariants();
    } catch (error) { fail(error); }
  }

  async function review(variant, action, editedText) {
    const body = { action, reviewer: state.me.username };
    if (action === "edit") body.edited_text = editedText;
    try {
      await call("POST", `/api/marketing/copy/variants/${variant.id}/review`, body);
      ok();
      await loadVariants();
    } catch (error) { fail(error); }
  }

  function drawVariants() {
    const items = state.variants.map((v) => {
      const li = el("li", undefined, "variant");
      li.dataset.variant = String(v.id);
      li.append(el("span", `#${v.id} · ${v.language} · ${v.channel} · ${d(v.status)}`, "muted"));
      li.append(el("p", v.final_text, "text"));
      if (v.problems.length) li.append(el("p", d("problems") + v.problems.map((p) => p.detail).join("; "), "error"));
      if (v.status === "pending") {
        const editor = el("textarea");
        editor.value = v.text;
        editor.rows = 3;
        editor.maxLength = 4000;
        editor.hidden = true;
        editor.setAttribute("aria-label", d("edit"));
        const save = button("save", () => review(v, "edit", editor.value));
        save.hidden = true;
        const actions = el("div", undefined, "actions");
        actions.append(
          button("approve", () => review(v, "approve"), "approve"),
          button("edit", () => { editor.hidden = false; save.hidden = false; }, "edit"),
          button("reject", () => review(v, "reject"), "reject"), save);
        li.append(editor, actions);
      }
      return li;
    });
    if (!items.length) items.push(el("li", d("empty"), "muted"));
    $("copy-rows").replaceChildren(...items);
  }

  async function start() {
    try {
      state.me = await call("GET", "/console/api/me");
      await loadSegments();
      await loadCampaigns();
      ok();
      document.body.dataset.loaded = "all";
    } catch (error) {
      $("mk-error").textContent = `${d("loginFirst")} (${error.message})`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyStrings();
    $("preview-form").addEventListener("submit", (event) => { event.preventDefault(); preview(); });
    $("copy-form").addEventListener("submit", (event) => { event.preventDefault(); loadVariants(); });
    $("draft-form").addEventListener("submit", (event) => { event.preventDefault(); draft(); });
    $("run").addEventListener("click", runDue);
    $("b-saved").addEventListener("change", () => {
      const expression = state.saved[$("b-saved").value];
      if (expression !== undefined) { $("b-segment").value = expression; builderPreview(); }
    });
    $("b-preview").addEventListener("click", builderPreview);
    $("b-load").addEventListener("click", loadApproved);
    $("build-form").addEventListener("submit", (event) => { event.preventDefault(); createCampaign(); });
    $("budget-form").addEventListener("submit", (event) => { event.preventDefault(); planBudget(); });
    $("r-campaign").addEventListener("change", () => { state.shown = Number($("r-campaign").value); refreshShown(); });
    setInterval(refreshShown, REFRESH_MS);
    start();
  });
  document.addEventListener("langchange", () => {
    applyStrings(); drawPreview(); drawCampaigns(); drawVariants(); drawBuilderPreview();
    drawApproved(); drawResults(); drawPlan();
  });
  window.MARKETING = { get chart() { return chart; } };
})();
