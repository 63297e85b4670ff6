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

  // SLA compliance per team of the tickets created in the chosen period (/api/tickets/sla).
  async function refreshSla() {
    const select = $("sla-days");
    [...select.options].forEach((o) => { o.textContent = t("sup.days").replace("{n}", o.value); });
    const until = new Date();
    const since = new Date(until.getTime() - Number(select.value) * 86400000);
    const query = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
    const response = await fetch("/api/tickets/sla?" + query, { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("sup-error").textContent = (data.detail && data.detail.message) || data.detail || response.statusText;
      return;
    }
    $("sla").replaceChildren(...data.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.team = row.team;
      const rate = row.compliance === null ? "–" : `${Math.round(row.compliance * 1000) / 10}%`;
      tr.append(cell(t("skill." + row.team)), cell(row.tickets), cell(row.met), cell(row.breached),
                cell(row.open_now), cell(rate));
      if (row.compliance !== null && row.compliance < 0.9) tr.className = "sla-breached";
      return tr;
    }));
  }

  async function loadNames() {
    const response = await fetch("/console/api/agents", { credentials: "same-origin" });
    if (response.ok) names = Object.fromEntries((await response.json()).map((a) => [a.id, a.display_name]));
  }

  // Admins also get the personal-data page (export, consents, audit log, erasure).
  async function showAdminLinks() {
    const response = await fetch("/console/api/me", { credentials: "same-origin" });
    if (response.ok) $("privacy-link").hidden = (await response.json()).role !== "admin";
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await showAdminLinks();
    await loadNames();
    await refresh();
    await refreshGaps();
    await refreshSla();
    $("sla-days").addEventListener("change", refreshSla);
    setInterval(refreshGaps, 60000);
    setInterval(refreshSla, 60000);
    const socket = window.io("/console", { transports: ["websocket", "polling"] });
    socket.on("queue", refresh);
    socket.on("assigned", refresh);
    setInterval(refresh, 5000);  // waiting times grow between events
  });
  document.addEventListener("langchange", () => { refresh(); refreshGaps(); refreshSla(); });
})();
