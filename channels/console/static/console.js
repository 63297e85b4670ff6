// The agent console. Customer text is only ever put into the page as text (textContent),
// never as HTML, so a message holding markup or script shows as what it is.
(function () {
  "use strict";
  const t = (key) => window.I18N.t(key);
  const $ = (id) => document.getElementById(id);
  const state = { me: null, socket: null, handoff: null, seen: new Set(), typingTimer: null,
                  lastTyping: 0, agents: [] };

  // The double-submit CSRF token the hub set at login; every state-changing request echoes it.
  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("console_csrf="));
    return found ? decodeURIComponent(found.slice("console_csrf=".length)) : "";
  }

  async function api(method, path, body) {
    const headers = body === undefined ? {} : { "Content-Type": "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch("/console/api" + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function showError(id, error) {
    $(id).textContent = error ? String(error.message || error) : "";
  }

  // ---- login ------------------------------------------------------------------------------

  async function boot() {
    try {
      start(await api("GET", "/me"));
    } catch (error) {
      $("login").hidden = false;
      $("app").hidden = true;
    }
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("login-error", null);
    try {
      start(await api("POST", "/login", { username: $("username").value, password: $("password").value }));
    } catch (error) {
      showError("login-error", t("login.failed") + error.message);
    }
  });

  $("logout").addEventListener("click", async () => {
    await api("POST", "/logout").catch(() => null);
    if (state.socket) state.socket.disconnect();
    location.reload();
  });

  function start(me) {
    state.me = me;
    $("login").hidden = true;
    $("app").hidden = false;
    $("me").textContent = me.display_name;
    $("presence").value = me.presence;
    $("supervisor-link").hidden = !me.supervises;
    connect();
    refreshQueue();
    loadCanned();
    api("GET", "/agents").then((agents) => { state.agents = agents; renderTransferTargets(); });
    // A link from a ticket (/console?handoff=ID) opens that conversation.
    const linked = Number(new URLSearchParams(location.search).get("handoff"));
    if (Number.isInteger(linked) && linked > 0) openHandoff(linked);
  }

  $("presence").addEventListener("change", async () => {
    await api("POST", "/presence", { presence: $("presence").value });
    refreshQueue();
  });

  // ---- live events ------------------------------------------------------------------------

  function connect() {
    state.socket = window.io("/console", { transports: ["websocket", "polling"] });
    state.socket.on("queue", refreshQueue);
    state.socket.on("assigned", refreshQueue);
    state.socket.on("message", (message) => {
      if (state.handoff && message.conversation_id === state.handoff.conversation_id) {
        appendMessage(message);
        if (message.direction === "in") $("typing").hidden = true;
      }
    });
    state.socket.on("typing", (data) => {
      if (!state.handoff || data.conversation_id !== state.handoff.conversation_id) return;
      $("typing").hidden = false;
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => { $("typing").hidden = true; }, 4000);
    });
    state.socket.on("mode", (data) => {
      if (state.handoff && data.conversation_id === state.handoff.conversation_id) {
        openHandoff(state.handoff.id);
      }
    });
    state.socket.on("connect", () => {
      if (state.handoff) state.socket.emit("watch", { handoff_id: state.handoff.id });
    });
    // The hub drops the socket when the session ends (log-out elsewhere, expiry): log in again.
    state.socket.on("disconnect", (reason) => {
      if (reason === "io server disconnect") location.reload();
    });
  }

  // ---- queue ------------------------------------------------------------------------------

  async function refreshQueue() {
    let items = [];
    try { items = await api("GET", "/queue"); } catch (error) { return; }
    const list = $("queue");
    list.replaceChildren();
    $("queue-empty").hidden = items.length > 0;
    for (const item of items) {
      const li = el("li", null, "queue-item status-" + item.status);
      const button = el("button", null, "queue-open");
      button.type = "button";
      button.dataset.handoff = item.id;
      const who = item.customer || `${t("visitor")} ${item.visitor || ""}`.trim();
      const channel = t("channel." + item.channel) === "channel." + item.channel ? item.channel : t("channel." + item.channel);
      const waited = `${t("waited")} ${window.I18N.duration(item.waited_s)}`;
      button.setAttribute("aria-label", `${who} · ${channel} · ${t("reason." + item.reason)} · ${waited}`);
      button.append(
        el("span", `${who} · ${channel}`, "who"),
        el("span", item.last_text || "", "last"),
        el("span", `${t("reason." + item.reason)} · ${t("skill." + item.skill)} · ${item.language.toUpperCase()}`, "meta"),
        el("span", t("status." + item.status), "status"),
        el("span", waited, "waited"),
      );
      if (item.vip) button.append(el("span", "VIP", "vip"));
      button.addEventListener("click", () => openHandoff(item.id));
      li.append(button);
      list.append(li);
    }
  }

  // ---- conversation -----------------------------------------------------------------------

  async function openHandoff(id) {
    let data;
    try { data = await api("GET", `/handoffs/${id}`); } catch (error) {
      showError("chat-error", error);
      return;
    }
    state.handoff = data.handoff;
    state.seen = new Set();
    $("chat-empty").hidden = true;
    $("chat").hidden = false;
    $("context").hidden = false;
    $("chat-status").textContent = `${t("status." + data.handoff.status) || data.handoff.status} · ` +
      `${t("reason." + data.handoff.reason)} · ${t("skill." + data.handoff.skill)}`;
    $("transcript").replaceChildren();
    data.transcript.forEach(appendMessage);
    renderContext(data);
    const mine = data.handoff.agent_id === state.me.id;
    const active = data.handoff.status === "active" && mine;
    $("accept").hidden = active;
    $("reply-form").hidden = !active;
    $("close-form").hidden = !active;
    $("return").hidden = !active;
    $("transfer").hidden = !active;
    $("transfer-target").parentElement.hidden = !active;
    $("to-ticket").hidden = !active;
    $("ticket-made").hidden = true;
    showError("chat-error", null);
    if (state.socket) state.socket.emit("watch", { handoff_id: id });
  }

  // The NLU panel's correction: a customer message of this conversation and the intent it
  // meant; a supervisor reviews it (/console/corrections) before it becomes a training example.
  async function renderCorrection(data) {
    if (!state.intents) {
      try { state.intents = await api("GET", "/corrections/intents"); } catch (error) { return; }
    }
    document.getElementById("correction")?.remove();  // after the wait: one form, the latest
    const customer = data.transcript.filter((m) => m.direction === "in" && m.author === "customer");
    if (!customer.length) return;
    const form = el("form", null, "correction");
    form.id = "correction";
    const message = el("select"); message.name = "message";
    for (const m of customer.slice(-10).reverse()) {
      const option = el("option", m.text.slice(0, 60)); option.value = String(m.id); message.append(option);
    }
    const intent = el("select"); intent.name = "intent";
    for (const name of state.intents) { const option = el("option", name); option.value = name; intent.append(option); }
    const status = el("span", "", "correction-status"); status.setAttribute("role", "status");
    const messageLabel = el("label", t("correction.message"));
    const intentLabel = el("label", t("correction.intent"));
    messageLabel.append(message);
    intentLabel.append(intent);
    form.append(messageLabel, intentLabel, el("button", t("correction.send")), status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/handoffs/${state.handoff.id}/corrections`,
                  { message_id: Number(message.value), intent: intent.value });
        status.textContent = t("correction.sent");
      } catch (error) { status.textContent = String(error.message || error); }
    });
    $("nlu").after(form);
  }

  function appendMessage(message) {
    if (state.seen.has(message.id)) return;
    state.seen.add(message.id);
    const text = window.I18N.messageText(message);
    if (text === null) return;
    const li = el("li", null, `msg author-${message.author} dir-${message.direction}`);
    li.dataset.messageId = message.id;
    li.append(el("span", t("author." + message.author), "who"), el("span", text, "text"));
    const media = message.payload && message.payload.media;
    if (media && typeof media.text === "string" && media.text) {
      li.append(el("span", media.text, "read"));  // what was heard or read in the file
    }
    if (media && typeof media.attachment_id === "string") {
      // The customer's original voice message or picture, kept for agents.
      const link = el("a", t(media.kind === "audio" ? "media.audio" : "media.image"), "media");
      link.href = `/console/media/${encodeURIComponent(media.attachment_id)}`;
      link.target = "_blank";
      link.rel = "noopener";
      li.append(link);
    }
    $("transcript").append(li);
    li.scrollIntoView({ block: "end" });
  }

  function renderContext(data) {
    $("summary").textContent = data.summary || t("context.none");
    const nlu = $("nlu");
    nlu.replaceChildren();
    if (!data.nlu.available) {
      nlu.append(el("dd", t("context.nluDown")));
    } else {
      const rows = [["intent", data.nlu.intent], ...data.nlu.entities.map((e) => [e.entity, e.value]),
                    ...Object.entries(data.nlu.slots).map(([k, v]) => [k, JSON.stringify(v)])];
      for (const [k, v] of rows) nlu.append(el("dt", k), el("dd", v));
    }
    renderCorrection(data);
    const sentiment = $("sentiment");
    sentiment.replaceChildren();
    for (const point of data.sentiment) {
      const li = el("li", point.score.toFixed(2), point.score < -0.25 ? "neg" : point.score > 0.25 ? "pos" : "neu");
      li.style.setProperty("--score", String(point.score));
      sentiment.append(li);
    }
    // The churn model's risk and its top three reasons, in the console's language.
    const churn = data.churn;
    $("churn-risk").textContent = churn ? `${Math.round(churn.risk * 100)}%` : t("context.unscored");
    fillList("churn", churn ? churn.reasons[window.I18N.lang] || churn.reasons.en : [], (r) => r);
    fillList("orders", data.orders, (o) => [o.id, t(`order.${o.status}`), `¥${o.total}`, o.items,
      o.tracking_number ? `${o.carrier || ""} ${o.tracking_number}` : ""].filter(Boolean).join(" · "));
    fillList("sources", data.sources, (s) => s.title || s.source || JSON.stringify(s));
    const suggestions = $("suggestions");
    suggestions.replaceChildren();
    for (const suggestion of data.suggestions) {
      const button = el("button", suggestion.text, "suggestion");
      button.type = "button";
      button.addEventListener("click", () => { $("reply").value = suggestion.text; $("reply").focus(); });
      const li = el("li");
      li.append(button);
      suggestions.append(li);
    }
    if (!data.suggestions.length) suggestions.append(el("li", t("context.none"), "muted"));
    fillList("notes", data.notes, (n) => `${n.agent || ""}: ${n.text}`);
  }

  function fillList(id, items, label) {
    const list = $(id);
    list.replaceChildren();
    for (const item of items) list.append(el("li", label(item)));
    if (!items.length) list.append(el("li", t("context.none"), "muted"));
  }

  async function act(method, path, body) {
    showError("chat-error", null);
    try {
      const result = await api(method, path, body);
      await openHandoff(state.handoff.id);
      refreshQueue();
      return result;
    } catch (error) {
      showError("chat-error", error);
      return null;
    }
  }

  $("accept").addEventListener("click", () => act("POST", `/handoffs/${state.handoff.id}/accept`));
  $("return").addEventListener("click", () => act("POST", `/handoffs/${state.handoff.id}/return`));
  $("transfer").addEventListener("click", () => {
    const [kind, value] = $("transfer-target").value.split(":");
    const body = kind === "agent" ? { agent_id: Number(value) } : { skill: value };
    act("POST", `/handoffs/${state.handoff.id}/transfer`, body);
  });
  // One click: a ticket for this conversation (its customer, channel and latest messages); the
  // customer is told its number in the conversation. A second click shows the same ticket.
  $("to-ticket").addEventListener("click", async () => {
    showError("chat-error", null);
    try {
      const ticket = await api("POST", `/handoffs/${state.handoff.id}/ticket`);
      const link = $("ticket-link");
      link.textContent = t(ticket.created ? "chat.ticketMade" : "chat.ticketExists").replace("{n}", ticket.number);
      link.href = "/console/tickets?ticket=" + encodeURIComponent(ticket.number);
      $("ticket-made").hidden = false;
    } catch (error) {
      showError("chat-error", error);
    }
  });
  $("close-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act("POST", `/handoffs/${state.handoff.id}/close`, { resolution: $("resolution").value });
  });
  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!$("note").value.trim()) return;
    await act("POST", `/handoffs/${state.handoff.id}/notes`, { text: $("note").value });
    $("note").value = "";
  });
  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("reply").value;
    if (!text.trim()) return;
    try {
      appendMessage(await api("POST", `/handoffs/${state.handoff.id}/messages`, { text }));
      $("reply").value = "";
      showError("chat-error", null);
    } catch (error) {
      showError("chat-error", error);
    }
  });
  $("reply").addEventListener("input", () => {
    const now = Date.now();
    if (state.socket && state.handoff && now - state.lastTyping > 2000) {
      state.lastTyping = now;
      state.socket.emit("typing", { handoff_id: state.handoff.id });
    }
  });

  // ---- canned replies and transfer targets -----------------------------------------------

  async function loadCanned() {
    const select = $("canned");
    select.replaceChildren(el("option", t("chat.canned")));
    const replies = await api("GET", `/canned?language=${window.I18N.lang}`).catch(() => []);
    for (const reply of replies) {
      const option = el("option", reply.title);
      option.value = reply.text;
      select.append(option);
    }
  }
  $("canned").addEventListener("change", () => {
    if ($("canned").selectedIndex > 0) $("reply").value = $("canned").value;
    $("canned").selectedIndex = 0;
  });

  function renderTransferTargets() {
    const select = $("transfer-target");
    select.replaceChildren();
    for (const skill of ["orders", "refunds", "technical", "sales", "general"]) {
      const option = el("option", t("transfer.toSkill") + t("skill." + skill));
      option.value = "skill:" + skill;
      select.append(option);
    }
    for (const agent of state.agents) {
      if (state.me && agent.id === state.me.id) continue;
      const option = el("option", t("transfer.toAgent") + agent.display_name);
      option.value = "agent:" + agent.id;
      select.append(option);
    }
  }

  document.addEventListener("langchange", () => {
    refreshQueue(); loadCanned(); renderTransferTargets();
    if (state.handoff) openHandoff(state.handoff.id);
  });
  document.addEventListener("DOMContentLoaded", boot);
})();
