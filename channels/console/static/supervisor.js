// Supervisor view: queues by skill and language, agents and their load, live over socket.io;
// and the questions the knowledge base could not answer.
(function () {
  "use strict";
  const t = (key) => window.I18N.t(key);
  const $ = (id) => document.getElementById(id);
  let names = {};

  function cell(text) { const td = document.createElement("td"); td.textContent = String(text); return td; }

  async function refresh() {
    const response = await fetch("/console/api/supervisor", { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { $("sup-error").textContent = data.detail || response.statusText; return; }
    $("sup-error").textContent = "";
    $("open-count").textContent = String(data.open_conversations);
    $("queues").replaceChildren(...data.queues.map((q) => {
      const tr = document.createElement("tr");
      tr.append(cell(t("skill." + q.skill)), cell(q.language), cell(q.waiting), cell(q.active), cell(q.longest_wait_s));
      return tr;
    }));
    $("agents").replaceChildren(...data.agents.map((a) => {
      const tr = document.createElement("tr");
      tr.append(cell(names[a.id] || a.id), cell(a.online ? "✓" : "–"), cell(`${a.active_chats}/${a.max_chats}`),
                cell(a.skills.map((s) => t("skill." + s)).join(", ")));
      return tr;
    }));
  }

  // The knowledge base's gaps change slowly: loaded with the page, on a language change and each minute.
  async function refreshGaps() {
    const response = await fetch("/console/api/supervisor/unanswered", { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { $("sup-error").textContent = data.detail || response.statusText; return; }
    const rows = data.questions.map((g) => {
      const tr = document.createElement("tr");
      const now = g.answered_now === null ? "?" : g.answered_now ? "✓" : "–";
      tr.append(cell(g.question), cell(g.asked), cell(new Date(g.last_asked).toLocaleString()), cell(now));
      return tr;
    });
    if (!rows.length) {
      const td = cell(t("sup.noGaps"));
      td.colSpan = 4;
      const tr = document.createElement("tr");
      tr.append(td);
      rows.push(tr);
    }
    $("gaps").replaceChildren(...rows);
  }

  async function loadNames() {
    const response = await fetch("/console/api/agents", { credentials: "same-origin" });
    if (response.ok) names = Object.fromEntries((await response.json()).map((a) => [a.id, a.display_name]));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await loadNames();
    await refresh();
    await refreshGaps();
    setInterval(refreshGaps, 60000);
    const socket = window.io("/console", { transports: ["websocket", "polling"] });
    socket.on("queue", refresh);
    socket.on("assigned", refresh);
    setInterval(refresh, 5000);  // waiting times grow between events
  });
  document.addEventListener("langchange", () => { refresh(); refreshGaps(); });
})();
