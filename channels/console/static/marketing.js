// Supervisors' marketing page: saved segments and previews (counts, sample members), campaigns
// with their status and results, and the copy desk's approve / edit / reject, all through
// /api/marketing with the console session. Every text from the server is put into the page as
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
      "ran": "新增 {added} 位收件人；{outcomes}", "problems": "检查发现：",
      "loginFirst": "请先以主管身份登录工作台。",
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
      "ran": "{added} recipients added; {outcomes}", "problems": "The checker found: ",
      "loginFirst": "Log in to the console as a supervisor first.",
    },
  };
  const $ = (id) => document.getElementById(id);
  const d = (key) => { const lang = window.I18N.lang; return (STRINGS[lang] || STRINGS.en)[key] || key; };
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
  const state = { me: null, campaigns: [], reports: {}, preview: null, variants: [] };

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

  // ---- segments ---------------------------------------------------------------------------
  async function loadSegments() {
    const saved = await call("GET", "/api/marketing/segments");
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

  function drawPreview() {
    const p = state.preview;
    if (!p) return;
    $("preview-counts").textContent = fill(d("counts"), p);
    rows("preview-rows", p.sample, (m) => [el("td", m.customer_id), el("td", m.channel),
      el("td", m.language || "–"), el("td", d(m.consented ? "yes" : "no"))], 4);
  }

  // ---- campaigns --------------------------------------------------------------------------
  async function loadCampaigns() {
    state.campaigns = await call("GET", "/api/marketing/campaigns");
    for (const c of state.campaigns) state.reports[c.id] = await call("GET", `/api/marketing/campaigns/${c.id}`);
    drawCampaigns();
  }

  function drawCampaigns() {
    rows("camp-rows", state.campaigns, (c) => {
      const r = state.reports[c.id];
      const n = (status) => (r && r.statuses[status]) || 0;
      const row = [el("td", c.name), el("td", d(c.kind)), el("td", d(c.status)),
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
    $("run").addEventListener("click", runDue);
    start();
  });
  document.addEventListener("langchange", () => {
    applyStrings(); drawPreview(); drawCampaigns(); drawVariants();
  });
})();
