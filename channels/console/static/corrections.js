// Intent corrections: supervisors accept (a training example) or reject what agents corrected.
// Every value from the server is set as text, never as markup.
(function () {
  "use strict";
  const STRINGS = {
    zh: { title: "意图纠正", heading: "客服对机器人意图的纠正",
          hint: "通过的纠正在下次训练（python -m bot train）时成为训练样例。",
          text: "客户消息（已脱敏）", wrong: "机器人的意图", right: "纠正为", agent: "客服", status: "状态",
          accept: "通过", reject: "驳回", none: "没有纠正", pending: "待审", accepted: "已通过",
          rejected: "已驳回", counts: "待审 {p} · 已通过 {a} · 已驳回 {r}" },
    en: { title: "Intent corrections", heading: "Agents' corrections of the bot's intents",
          hint: "Accepted corrections become training examples at the next training (python -m bot train).",
          text: "Customer message (redacted)", wrong: "Bot's intent", right: "Corrected to", agent: "Agent",
          status: "Status", accept: "Accept", reject: "Reject", none: "No corrections",
          pending: "pending", accepted: "accepted", rejected: "rejected",
          counts: "pending {p} · accepted {a} · rejected {r}" },
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

  document.addEventListener("DOMContentLoaded", () => { labels(); refresh(); });
  document.addEventListener("langchange", () => { labels(); refresh(); });
})();
