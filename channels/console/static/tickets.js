// The console's ticket pages: list with filters and saved views, detail with thread and history,
// public reply, internal note, assignment and status change, all through /api/tickets with the
// console session. Customer text is only ever put into the page as text (textContent).
(function () {
  "use strict";
  const t = (key) => window.I18N.t(key);
  const $ = (id) => document.getElementById(id);
  const STATUSES = ["new", "open", "pending_customer", "resolved", "closed", "reopened"];
  const UNRESOLVED = ["new", "open", "pending_customer", "reopened"];
  // The moves the service allows (bot/tickets/_model.py TRANSITIONS), so that the page offers
  // only those; the service checks again and its refusal is shown as it words it.
  const NEXT = {
    new: ["open", "pending_customer", "resolved", "closed"],
    open: ["pending_customer", "resolved", "closed"],
    pending_customer: ["open", "resolved", "closed"],
    resolved: ["reopened", "closed"],
    reopened: ["open", "pending_customer", "resolved", "closed"],
    closed: [],
  };
  const PRIORITIES = ["P1", "P2", "P3", "P4"];
  const TEAMS = ["orders", "refunds", "technical", "sales", "general"];
  const SLA = ["ok", "due_soon", "breached"];
  const PAGE = 50;
  const state = { me: null, agents: [], items: [], next: null, view: "all", ticket: null,
                  picked: new Set(), agentsReady: null };
  // History rows name fields as the service stores them; the page says them in words.
  const TIME_FIELDS = ["first_responded_at", "first_response_breached_at", "resolution_breached_at"];

  const call = window.ConsoleApi.call;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(iso) {
    if (!iso) return "–";
    return new Date(iso).toLocaleString(window.I18N.lang === "zh" ? "zh-CN" : "en-GB",
      { dateStyle: "short", timeStyle: "short" });
  }

  // "in 33 min" / "overdue 2 h 5 min" from a due time.
  function due(ticket) {
    if (!ticket.next_due_at) return "–";
    const seconds = Math.round((new Date(ticket.next_due_at) - Date.now()) / 1000);
    const span = window.I18N.duration(Math.abs(seconds));
    return seconds < 0 ? t("tk.overdue").replace("{d}", span) : t("tk.dueIn").replace("{d}", span);
  }

  function options(select, values, label, withAll) {
    const current = select.value;
    const items = (withAll ? [["", t("tk.all")]] : []).concat(values.map((v) => [v, label(v)]));
    select.replaceChildren(...items.map(([value, text]) => {
      const o = el("option", text); o.value = value; return o;
    }));
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  function fillFilters() {
    options($("f-status"), ["unresolved", ...STATUSES], (s) => t("tk.status." + s), true);
    options($("f-priority"), PRIORITIES, (p) => p, true);
    options($("f-team"), TEAMS, (s) => t("skill." + s), true);
    const assignees = [["me", t("tk.me")], ["none", t("tk.unassigned")],
      ...state.agents.filter((a) => a.username !== state.me.username).map((a) => [a.username, a.display_name])];
    options($("f-assignee"), assignees.map(([v]) => v),
      (v) => (assignees.find(([value]) => value === v) || [v, v])[1], true);
    options($("f-sla"), SLA, (s) => t("tk.sla." + s), true);
    const agents = state.agents.map((a) => [a.username, a.display_name]);
    options($("d-assignee"), agents.map(([v]) => v), (v) => (agents.find(([u]) => u === v) || [v, v])[1], false);
    options($("b-assignee"), agents.map(([v]) => v), (v) => (agents.find(([u]) => u === v) || [v, v])[1], false);
    options($("b-status"), STATUSES.filter((s) => s !== "new"), (s) => t("tk.status." + s), false);
  }

  function query(offset) {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset), sort: "-updated_at" });
    const status = $("f-status").value;
    if (status === "unresolved") UNRESOLVED.forEach((s) => params.append("status", s));
    else if (status) params.append("status", status);
    if ($("f-priority").value) params.append("priority", $("f-priority").value);
    if ($("f-team").value) params.append("team", $("f-team").value);
    const who = $("f-assignee").value;
    if (who === "me") params.append("assignee", state.me.username);
    else if (who === "none") params.set("unassigned", "true");
    else if (who) params.append("assignee", who);
    if ($("f-sla").value) params.set("sla_state", $("f-sla").value);
    const text = $("f-q").value.trim();
    if (text) params.set("q", text);
    return params;
  }

  function setView(view) {
    state.view = view;
    document.querySelectorAll(".view").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === view)));
    const presets = {
      all: { status: "", assignee: "", sla: "" },
      mine: { status: "unresolved", assignee: "me", sla: "" },
      soon: { status: "unresolved", assignee: "", sla: "due_soon" },
      breached: { status: "unresolved", assignee: "", sla: "breached" },
    }[view];
    $("f-status").value = presets.status;
    $("f-assignee").value = presets.assignee;
    $("f-sla").value = presets.sla;
    $("f-priority").value = ""; $("f-team").value = ""; $("f-q").value = "";
    syncUrl();
    load(false);
  }

  // The address names the saved view and the open ticket, so either can be shared or reloaded.
  function syncUrl() {
    const params = new URLSearchParams();
    if (state.view !== "all" && state.view !== "custom") params.set("view", state.view);
    if (state.ticket) params.set("ticket", state.ticket.number);
    const search = params.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
  }

  async function load(more) {
    $("tk-error").textContent = "";
    try {
      const page = await call("GET", "/api/tickets?" + query(more ? state.next : 0));
      state.items = more ? state.items.concat(page.items) : page.items;
      state.next = page.next_offset;
      state.total = page.total;
      renderList(page.total);
      document.body.dataset.loaded = "list";
    } catch (error) {
      $("tk-error").textContent = error.message;
    }
  }

  function renderList(total) {
    const rows = state.items.map((ticket) => {
      const tr = el("tr");
      tr.dataset.number = ticket.number;
      if (state.ticket && state.ticket.number === ticket.number) tr.setAttribute("aria-selected", "true");
      const open = el("button", ticket.number, "link open-ticket");
      open.type = "button";
      open.addEventListener("click", () => openTicket(ticket.number));
      const first = el("td"); first.append(open);
      const pick = el("input", null, "pick");
      pick.type = "checkbox";
      pick.checked = state.picked.has(ticket.number);
      pick.setAttribute("aria-label", ticket.number);
      pick.addEventListener("change", () => {
        if (pick.checked) state.picked.add(ticket.number); else state.picked.delete(ticket.number);
        renderPicked();
      });
      const box = el("td"); box.append(pick);
      const prio = el("td", ticket.priority, "prio-" + ticket.priority);
      const sla = el("td", due(ticket), "sla-" + ticket.sla_state);
      tr.append(box, first, el("td", ticket.subject), el("td", t("tk.status." + ticket.status)), prio,
        el("td", t("skill." + ticket.team)), el("td", ticket.assignee || t("tk.unassigned")), sla);
      tr.addEventListener("click", (event) => { if (event.target === tr || event.target.tagName === "TD") openTicket(ticket.number); });
      return tr;
    });
    if (!rows.length) {
      const td = el("td", t("tk.empty")); td.colSpan = 8;
      const tr = el("tr"); tr.append(td); rows.push(tr);
    }
    $("tk-rows").replaceChildren(...rows);
    const count = total === null || total === undefined ? state.total : total;
    $("tk-count").textContent = count === null || count === undefined ? "" : t("tk.count").replace("{n}", count);
    $("tk-more").hidden = state.next === null || state.next === undefined;
    renderPicked();
  }

  // The bulk bar shows while tickets are picked; picks outside the loaded list are dropped.
  function renderPicked() {
    const shown = new Set(state.items.map((ticket) => ticket.number));
    state.picked.forEach((number) => { if (!shown.has(number)) state.picked.delete(number); });
    $("tk-bulk").hidden = state.picked.size === 0;
    $("tk-picked").textContent = t("tk.picked").replace("{n}", state.picked.size);
    $("tk-all").checked = state.items.length > 0 && state.picked.size === state.items.length;
  }

  async function bulk(change) {
    $("tk-error").textContent = "";
    const numbers = [...state.picked];
    const versions = Object.fromEntries(state.items.filter((tk) => state.picked.has(tk.number))
      .map((tk) => [tk.number, tk.version]));
    try {
      const result = await call("POST", "/api/tickets/bulk", { numbers, versions, ...change });
      const refused = result.results.filter((r) => r.error)
        .map((r) => `${r.number}: ${r.error}`);
      $("tk-bulk-result").textContent = [t("tk.bulkDone").replace("{n}", result.changed),
        ...(refused.length ? [t("tk.bulkRefused").replace("{n}", refused.length), ...refused] : [])]
        .join(" · ");
      state.picked.clear();
      await load(false);
      if (state.ticket && numbers.includes(state.ticket.number)) await openTicket(state.ticket.number);
    } catch (error) {
      $("tk-error").textContent = error.message;
    }
  }

  async function openTicket(number) {
    $("tk-detail-error").textContent = "";
    $("tk-stale").hidden = true;
    try {
      const [detail] = await Promise.all([
        call("GET", "/api/tickets/" + encodeURIComponent(number)), state.agentsReady]);
      state.ticket = detail.ticket;
      syncUrl();
      renderDetail(detail);
      document.querySelectorAll("#tk-rows tr").forEach((tr) => {
        if (tr.dataset.number === number) tr.setAttribute("aria-selected", "true");
        else tr.removeAttribute("aria-selected");
      });
      document.body.dataset.loaded = "detail";
    } catch (error) {
      $("tk-error").textContent = error.message;
    }
  }

  function renderDetail(detail) {
    const tk = detail.ticket;
    $("tk-detail").hidden = false;
    $("tk-detail-title").textContent = `${tk.number} · ${tk.subject}`;
    const fields = [
      ["tk.status", t("tk.status." + tk.status)], ["tk.priority", tk.priority],
      ["tk.category", t("tk.category." + tk.category)], ["tk.team", t("skill." + tk.team)],
      ["tk.assignee", tk.assignee || t("tk.unassigned")], ["tk.customer", tk.customer_id],
      ["tk.channel", tk.channel], ["tk.conversation", tk.conversation_id || "–"],
      ["tk.created", when(tk.created_at)], ["tk.firstDue", when(tk.first_response_due_at)],
      ["tk.resolutionDue", when(tk.resolution_due_at)], ["tk.sla", t("tk.sla." + tk.sla_state)],
      ["tk.tags", tk.tags.join(", ") || "–"], ["tk.description", tk.description],
    ];
    if (tk.merged_into) fields.splice(1, 0, ["tk.mergedInto", tk.merged_into]);
    $("tk-fields").replaceChildren(...fields.flatMap(([key, value]) => {
      const dd = el("dd", value); dd.dataset.field = key.slice(3);
      return [el("dt", t(key)), dd];
    }));
    options($("d-status"), NEXT[tk.status] || [], (s) => t("tk.status." + s), false);
    $("d-status").disabled = $("d-status-go").disabled = !(NEXT[tk.status] || []).length;
    options($("d-team"), TEAMS.filter((team) => team !== tk.team), (team) => t("skill." + team), false);
    if (tk.assignee) $("d-assignee").value = tk.assignee;
    else if (state.me) $("d-assignee").value = state.me.username;
    const entries = detail.entries.map((entry) => {
      const li = el("li", null, "entry entry-" + entry.kind);
      li.append(el("span", `${t("tk.kind." + entry.kind)} · ${actorName(entry.author)} · ${when(entry.created_at)}`, "who"),
        el("span", entry.text, "text"));
      for (const attachment of entry.attachments) {
        if (attachment.text) li.append(el("span", attachment.text, "who"));
      }
      return li;
    });
    if (!entries.length) entries.push(el("li", t("tk.noEntries"), "muted"));
    $("tk-thread").replaceChildren(...entries);
    $("tk-history").replaceChildren(...detail.history.slice().reverse().map((h) => {
      const tr = el("tr");
      tr.dataset.field = h.field;
      tr.append(el("td", when(h.at)), el("td", actorName(h.actor)), el("td", fieldName(h.field)),
        el("td", historyChange(h)));
      return tr;
    }));
    $("d-force-label").hidden = !(state.me && state.me.supervises);
    $("d-conversation").hidden = !tk.conversation_id;
    $("d-merge-go").disabled = tk.status === "closed";
    $("tk-conversation-box").hidden = true;
  }

  function fieldName(field) {
    const key = "tk.field." + field;
    const label = t(key);
    return label === key ? field : label;
  }

  // Who made a change, as agents know them: an agent's display name, the bot, the SLA timer.
  function actorName(actor) {
    if (actor.startsWith("agent:")) {
      const username = actor.slice("agent:".length);
      const agent = state.agents.find((a) => a.username === username);
      return agent ? agent.display_name : username;
    }
    const key = "tk.actor." + actor;
    const label = t(key);
    return label === key ? actor : label;
  }

  function historyValue(field, value) {
    if (value === null || value === undefined || value === "") return "";
    if (TIME_FIELDS.includes(field)) return when(value);
    if (field === "status") return t("tk.status." + value);
    if (field === "team") return t("skill." + value);
    if (field === "category") return t("tk.category." + value);
    if (field === "personal_data") return t("tk.erased");
    return value;
  }

  // "处理中 → 已解决", "新建" (set first), "移除 mei" (cleared).
  function historyChange(h) {
    const old = historyValue(h.field, h.old);
    const now = historyValue(h.field, h.new);
    if (old && now) return `${old} → ${now}`;
    if (now) return now;
    return t("tk.removed").replace("{v}", old || "–");
  }

  async function showConversation() {
    $("tk-detail-error").textContent = "";
    try {
      const data = await call("GET",
        `/console/api/tickets/${encodeURIComponent(state.ticket.number)}/conversation`);
      const shown = data.transcript.filter((m) => window.I18N.messageText(m) !== null);
      const items = shown.map((m) => {
        const li = el("li", null, `entry msg author-${m.author}`);
        li.append(el("span", `${t("author." + m.author)} · ${when(m.created_at)}`, "who"),
          el("span", window.I18N.messageText(m), "text"));
        return li;
      });
      if (!items.length) items.push(el("li", t("tk.noEntries"), "muted"));
      $("tk-conversation").replaceChildren(...items);
      // Waiting for or with an agent now, and this agent may take it: open it in the console.
      $("tk-open-handoff").hidden = data.handoff_id === null;
      if (data.handoff_id !== null) $("tk-open-handoff").href = "/console?handoff=" + data.handoff_id;
      $("tk-conversation-box").hidden = false;
    } catch (error) {
      $("tk-detail-error").textContent = error.message;
    }
  }

  // Merging ends with the ticket merged into (where the work goes on).
  async function merge() {
    $("tk-detail-error").textContent = "";
    const into = $("d-merge-into").value.trim().toUpperCase();
    if (!into) { $("tk-detail-error").textContent = t("tk.mergeWhich"); return; }
    const source = state.ticket;
    try {
      const target = await call("POST", `/api/tickets/${encodeURIComponent(source.number)}/merge`,
        { into, version: source.version, force: $("d-force").checked });
      $("d-merge-into").value = "";
      $("d-force").checked = false;
      await load(false);
      await openTicket(target.number);
    } catch (error) {
      $("tk-detail-error").textContent = error.message;
      if (error.status === 409) await openTicket(source.number);
    }
  }

  // After any change: the detail and the list again (the list may no longer match the filters).
  // A refusal is shown; on a stale version (409) the ticket is read again under the message.
  async function change(work) {
    $("tk-detail-error").textContent = "";
    const number = state.ticket.number;
    let refusal = null;
    try {
      await work(state.ticket);
      $("tk-text").value = "";
    } catch (error) {
      refusal = error;
    }
    if (refusal === null || refusal.status === 409) {
      await openTicket(number);
      await load(false);
    }
    if (refusal !== null) $("tk-detail-error").textContent = refusal.message;
  }

  function post(kind) {
    const text = $("tk-text").value.trim();
    if (!text) { $("tk-detail-error").textContent = t("tk.textRequired"); return; }
    change((tk) => call("POST", `/api/tickets/${encodeURIComponent(tk.number)}/${kind}`,
      { text, version: tk.version }));
  }

  // The list follows new and changed tickets live: the hub says "tickets" on the console's
  // socket when any ticket moved (bot/app/_hub.py ticket_list_watch); bursts reload once. The
  // open ticket is not swapped under the agent's hands: when someone else changed it, a notice
  // says so with a button to show the new state (a change sent from the old one is refused, 409).
  let reloadTimer = null;
  function followChanges() {
    if (!window.io) return;
    const socket = window.io("/console", { transports: ["websocket", "polling"] });
    socket.on("tickets", () => {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(async () => {
        await load(false);
        if (state.ticket) await checkOpenTicket(state.ticket);
      }, 100);
    });
    $("tk-stale-show").addEventListener("click", () => {
      if (state.ticket) openTicket(state.ticket.number);
    });
  }

  async function checkOpenTicket(shown) {
    try {
      const now = await call("GET", "/api/tickets/" + encodeURIComponent(shown.number));
      const changed = state.ticket === shown && now.ticket.version !== shown.version;
      $("tk-stale").hidden = !changed;
    } catch (error) {
      $("tk-detail-error").textContent = error.message;
    }
  }

  // Keyboard: "/" search, j/k move through the list (Enter opens), r reply; not while typing.
  function onKey(event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLElement && target.closest("input, textarea, select")) return;
    const opens = [...document.querySelectorAll("#tk-rows .open-ticket")];
    if (event.key === "/") {
      event.preventDefault();
      $("f-q").focus();
    } else if ((event.key === "j" || event.key === "k") && opens.length) {
      event.preventDefault();
      const at = opens.indexOf(document.activeElement);
      const next = at < 0 ? 0 : Math.min(opens.length - 1, Math.max(0, at + (event.key === "j" ? 1 : -1)));
      opens[next].focus();
    } else if (event.key === "r" && state.ticket && !$("tk-detail").hidden) {
      event.preventDefault();
      $("tk-text").focus();
    }
  }

  function start(me) {
    state.me = me;
    $("tk-app").hidden = false;
    followChanges();
    document.addEventListener("keydown", onKey);
    $("supervisor-link").hidden = !me.supervises;
    fillFilters();
    // Names in a ticket's history and thread come from this list: a ticket opens once it is here.
    state.agentsReady = call("GET", "/console/api/agents").then((agents) => { state.agents = agents; fillFilters(); })
      .catch((error) => { $("tk-error").textContent = error.message; });
    const params = new URLSearchParams(location.search);
    const view = params.get("view");
    setView(["all", "mine", "soon", "breached"].includes(view) ? view : "all");
    // A link from elsewhere in the console (a conversation made into a ticket) opens it.
    const ticket = params.get("ticket");
    if (ticket) openTicket(ticket);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.querySelectorAll(".view").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
    $("tk-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      state.view = "custom";
      document.querySelectorAll(".view").forEach((b) => b.setAttribute("aria-pressed", "false"));
      load(false);
    });
    $("tk-more").addEventListener("click", () => load(true));
    $("tk-all").addEventListener("change", () => {
      if ($("tk-all").checked) state.items.forEach((tk) => state.picked.add(tk.number));
      else state.picked.clear();
      renderList(null);
    });
    $("b-status-go").addEventListener("click", () => bulk({ status: $("b-status").value }));
    $("b-assign-go").addEventListener("click", () => bulk({ assignee: $("b-assignee").value }));
    $("d-merge-go").addEventListener("click", merge);
    $("d-conversation").addEventListener("click", showConversation);
    $("tk-reply-form").addEventListener("submit", (event) => { event.preventDefault(); post("replies"); });
    $("tk-note").addEventListener("click", () => post("notes"));
    $("d-status-go").addEventListener("click", () => change((tk) => call("PATCH",
      `/api/tickets/${encodeURIComponent(tk.number)}`, { status: $("d-status").value, version: tk.version })));
    $("d-assign-go").addEventListener("click", () => change((tk) => call("PATCH",
      `/api/tickets/${encodeURIComponent(tk.number)}`, { assignee: $("d-assignee").value, version: tk.version })));
    $("d-team-go").addEventListener("click", () => change((tk) => call("PATCH",
      `/api/tickets/${encodeURIComponent(tk.number)}`, { team: $("d-team").value, version: tk.version })));
    // Ctrl+Enter sends the reply, as in the agent console's habits of mail clients.
    $("tk-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); post("replies"); }
    });
    document.addEventListener("langchange", () => {
      fillFilters();
      renderList(null);
      if (state.ticket) openTicket(state.ticket.number);
    });
    try {
      start(await call("GET", "/console/api/me"));
    } catch (error) {
      $("tk-login").hidden = false;
    }
  });
})();
