// Intent corrections: supervisors accept (a training example) or reject what agents corrected.
// Every value from the server is set as text, never as markup.
(function () {
  "use strict";
  const STRINGS = {
    zh: { title: "意图纠正", heading: "客服对机器人意图的纠正",
          hint: "通过的纠正在下次训练（python -m bot train）时成为训练样例。",
          text: "客户消息（已脱敏）", wrong: "机器人的意图", right: "纠正为", agent: "客服", status: "状态",
          accept: "通过", reject: "驳回", none: "没有纠正", pending: "待审", accepted: "已通过",
          rejected: "已驳回", counts: "待审 {p} · 已通过 {a} · 已驳回 {r}",
          unsureHeading: "机器人没把握的消息",
          unsureHint: "置信度低、兜底回复或随后转人工的客户消息。点一下确认机器人的意图或选另一个：直接成为已通过的纠正。",
          language: "语言", all: "全部", why: "原因", pick: "确认或改为", more: "更多",
          low_confidence: "置信度低", fallback: "兜底", handoff: "随后转人工",
          confirm: "确认", other: "改为…", save: "保存", noUnsure: "没有待处理的消息",
          settled: "已记为 {i}",
          retrainHeading: "重新训练的前后得分", retrainNone: "还没有重新训练过。",
          rtLanguage: "语言", rtBefore: "训练前 macro-F1 / 准确率", rtAfter: "训练后 macro-F1 / 准确率",
          retrainAt: "{t}：新增 {n} 条训练样例；{s}", swapped: "已换上新模型", kept: "保留旧模型" },
    en: { title: "Intent corrections", heading: "Agents' corrections of the bot's intents",
          hint: "Accepted corrections become training examples at the next training (python -m bot train).",
          text: "Customer message (redacted)", wrong: "Bot's intent", right: "Corrected to", agent: "Agent",
          status: "Status", accept: "Accept", reject: "Reject", none: "No corrections",
          pending: "pending", accepted: "accepted", rejected: "rejected",
          counts: "pending {p} · accepted {a} · rejected {r}",
          unsureHeading: "Messages the bot was unsure about",
          unsureHint: "Customer messages with a low confidence, a fallback, or a handoff right after. One click confirms the bot's intent or picks another: an accepted correction at once.",
          language: "Language", all: "All", why: "Why", pick: "Confirm or change to", more: "More",
          low_confidence: "low confidence", fallback: "fallback", handoff: "handed to a human",
          confirm: "Confirm", other: "Change to…", save: "Save", noUnsure: "Nothing to settle",
          settled: "recorded as {i}",
          retrainHeading: "Scores before and after retraining", retrainNone: "No retraining yet.",
          rtLanguage: "Language", rtBefore: "Before: macro-F1 / accuracy", rtAfter: "After: macro-F1 / accuracy",
          retrainAt: "{t}: {n} training examples added; {s}", swapped: "new model swapped in", kept: "old model kept" },
  };
  const s = (key) => (STRINGS[window.I18N.lang] || STRINGS.en)[key];
  const $ = (id) => document.getElementById(id);

  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("console_csrf="));
    return found ? decodeURIComponent(found.slice("console_csrf=".length)) : "";
  }

  function cell(text) { const td = document.createElement("td"); td.textContent = String(text ?? ""); return td; }

  function labels() {
    document.querySelectorAll("[data-co]").forEach((el) => { el.textContent = s(el.dataset.co); });
  }

  async function review(id, decision) {
    const response = await fetch(`/console/api/corrections/${id}/review`, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
      body: JSON.stringify({ decision }) });
    const data = await response.json().catch(() => ({}));
    $("co-error").textContent = response.ok ? "" : (data.detail || response.statusText);
    await refresh();
  }

  async function refresh() {
    const response = await fetch("/console/api/corrections", { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { $("co-error").textContent = data.detail || response.statusText; return; }
    const c = data.counts;
    $("co-counts").textContent = s("counts").replace("{p}", c.pending).replace("{a}", c.accepted)
      .replace("{r}", c.rejected);
    const rows = data.corrections.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(k.id);
      const buttons = document.createElement("td");
      if (k.status === "pending") {
        for (const decision of ["accept", "reject"]) {
          const button = document.createElement("button");
          button.type = "button"; button.className = decision; button.textContent = s(decision);
          button.addEventListener("click", () => review(k.id, decision));
          buttons.append(button);
        }
      }
      tr.append(cell(k.text), cell(k.wrong_intent || "–"), cell(k.right_intent), cell(k.agent),
                cell(s(k.status) || k.status), buttons);
      return tr;
    });
    if (!rows.length) {
      const td = cell(s("none")); td.colSpan = 6;
      const tr = document.createElement("tr"); tr.append(td); rows.push(tr);
    }
    $("corrections").replaceChildren(...rows);
  }

  let intents = [];
  let lastUnsure = null;

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  async function settle(row, messageId, intent) {
    const response = await fetch(`/console/api/corrections/unsure/${messageId}`, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
      body: JSON.stringify({ intent }) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { $("un-error").textContent = String(data.detail || response.statusText); return; }
    $("un-error").textContent = "";
    const done = cell(s("settled").replace("{i}", intent)); done.colSpan = 4; done.className = "settled";
    row.replaceChildren(done);
    await refresh();
  }

  function pickButton(row, messageId, intent, label) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "pick"; button.dataset.intent = intent;
    button.textContent = label;
    button.addEventListener("click", () => settle(row, messageId, intent));
    return button;
  }

  function unsureRow(m) {
    const tr = document.createElement("tr");
    tr.dataset.message = String(m.message_id);
    const score = m.confidence == null ? "" : ` (${m.confidence.toFixed(2)})`;
    const why = m.reasons.map((r) => s(r) || r).join(" · ");
    const picks = document.createElement("td");
    if (intents.includes(m.intent)) picks.append(pickButton(tr, m.message_id, m.intent, `${s("confirm")} ${m.intent}`));
    for (const alt of m.alternatives) {
      if (intents.includes(alt.intent)) {
        picks.append(pickButton(tr, m.message_id, alt.intent, `${alt.intent} (${alt.confidence.toFixed(2)})`));
      }
    }
    const select = document.createElement("select");
    select.className = "other";
    const first = document.createElement("option"); first.value = ""; first.textContent = s("other");
    select.append(first);
    for (const name of intents) {
      const option = document.createElement("option"); option.value = name; option.textContent = name;
      select.append(option);
    }
    select.addEventListener("change", () => { if (select.value) settle(tr, m.message_id, select.value); });
    picks.append(select);
    tr.append(cell(m.text), cell(why), cell(m.intent + score), picks);
    return tr;
  }

  async function loadUnsure(more) {
    const language = $("un-language").value;
    const params = new URLSearchParams({ limit: "50" });
    if (language) params.set("language", language);
    if (more && lastUnsure !== null) params.set("before", String(lastUnsure));
    try {
      if (!intents.length) intents = await getJson("/console/api/corrections/intents");
      const data = await getJson(`/console/api/corrections/unsure?${params}`);
      const rows = data.messages.map(unsureRow);
      lastUnsure = data.messages.length ? data.messages[data.messages.length - 1].message_id : null;
      $("un-more").hidden = data.messages.length < 50;
      if (more) { $("unsure").append(...rows); return; }
      if (!rows.length) {
        const td = cell(s("noUnsure")); td.colSpan = 4;
        const tr = document.createElement("tr"); tr.append(td); rows.push(tr);
      }
      $("unsure").replaceChildren(...rows);
      $("un-error").textContent = "";
    } catch (error) { $("un-error").textContent = String(error.message); }
  }

  function score(part) {
    return part ? `${part.macro_f1.toFixed(3)} / ${part.accuracy.toFixed(3)}` : "–";
  }

  async function loadRetrain() {
    let data;
    try { data = await getJson("/console/api/corrections/retrain"); } catch (error) { return; }
    const report = data.report;
    if (!report) { $("retrain").textContent = s("retrainNone"); $("retrain-scores").replaceChildren(); return; }
    $("retrain").textContent = s("retrainAt").replace("{t}", report.at).replace("{n}", report.added)
      .replace("{s}", s(report.swapped ? "swapped" : "kept"));
    const languages = Object.keys(report.after || {}).sort();
    $("retrain-scores").replaceChildren(...languages.map((language) => {
      const tr = document.createElement("tr");
      tr.append(cell(language), cell(score((report.before || {})[language])), cell(score(report.after[language])));
      return tr;
    }));
  }

  function all() { labels(); refresh(); loadUnsure(false); loadRetrain(); }

  document.addEventListener("DOMContentLoaded", () => {
    $("un-language").addEventListener("change", () => loadUnsure(false));
    $("un-more").addEventListener("click", () => loadUnsure(true));
    all();
  });
  document.addEventListener("langchange", all);
})();
