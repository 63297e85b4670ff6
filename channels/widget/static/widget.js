/*
 * YouXuan Mall web-chat widget: one script tag, no build step.
 *
 *   <script src="https://HUB/widget/widget.js" data-language="zh" defer></script>
 *
 * A shop page with a logged-in customer adds data-customer-id and data-customer-hash (the hex
 * HMAC-SHA256 of the id, computed by the shop's server), and optionally data-customer-expires
 * (unix seconds; the hash is then of "id:expires"); the hub checks them on connect and
 * answers with an "identity" event, and the customer's chat is the same in every browser.
 *
 * Speaks the Rasa web-chat protocol over socket.io (session_request / session_confirm,
 * user_uttered / bot_uttered) with the hub that served this file, and uploads voice messages and
 * images to HUB/webchat/upload. Lives in a shadow root so the host page's CSS cannot touch it.
 * Everything a customer or the bot wrote is put in the page as text, never as HTML.
 */
(function () {
  "use strict";
  if (window.YouXuanChat) return;

  var script = document.currentScript;
  var BASE = new URL(script.src, window.location.href).origin;
  var CUSTOMER = script.dataset.customerId || script.dataset.customerHash
    ? { customer_id: script.dataset.customerId || "", customer_hash: script.dataset.customerHash || "" }
    : null;
  if (CUSTOMER && script.dataset.customerExpires) {
    CUSTOMER.customer_expires = script.dataset.customerExpires;
  }
  // An identified customer's session is kept apart from the anonymous one of the same browser.
  var STORE_KEY = "yx-webchat:" + BASE + (CUSTOMER ? ":customer:" + CUSTOMER.customer_id : "");
  var MAX_RECORD_S = 60;
  var MAX_IMAGE_BYTES = 10 * 1024 * 1024;

  var STRINGS = {
    zh: {
      open: "打开在线客服", close: "关闭", title: "优选商城在线客服",
      subtitle: "服务时间 09:00–21:00 · 热线 400-800-1234",
      placeholder: "请输入您的问题…", send: "发送", input: "消息",
      record: "按下开始录音", stop: "停止录音并发送", recording: "正在录音… {s} 秒",
      image: "发送图片", lang: "English", langLabel: "Switch to English",
      typing: "正在输入…", agentTyping: "{name} 正在输入…", voice: "语音消息",
      heard: "识别结果：", read: "图片文字：", reading: "正在识别…", you: "我",
      bot: "智能客服", agent: "人工客服", system: "系统消息", failed: "发送失败",
      noMic: "无法使用麦克风，请检查浏览器权限，或直接输入文字。",
      tooBig: "图片太大了（最大 10 MB），请发送小一些的截图。",
      offline: "网络已断开，正在重新连接…", log: "聊天记录", quick: "快捷回复",
      cards: "推荐卡片", image_alt: "图片", openLink: "查看活动", downloadData: "下载我的数据", welcome: "您好！我是优选商城智能客服，有什么可以帮您？",
      unknownError: "文件没能发送成功，请重试。",
      dismissed: "好的，不再为您推荐这件商品。", feedbackFailed: "操作没有成功，请稍后再试。"
    },
    en: {
      open: "Open customer service chat", close: "Close", title: "YouXuan Mall support",
      subtitle: "Service hours 09:00–21:00 · Hotline 400-800-1234",
      placeholder: "Type your question…", send: "Send", input: "Message",
      record: "Start recording", stop: "Stop recording and send", recording: "Recording… {s} s",
      image: "Send an image", lang: "中文", langLabel: "切换到中文",
      typing: "Typing…", agentTyping: "{name} is typing…", voice: "Voice message",
      heard: "Heard: ", read: "Text in image: ", reading: "Reading…", you: "Me",
      bot: "Assistant", agent: "Agent", system: "Notice", failed: "Not sent",
      noMic: "The microphone cannot be used. Check the browser's permission, or type instead.",
      tooBig: "That image is too large (10 MB at most). Please send a smaller screenshot.",
      offline: "Connection lost, reconnecting…", log: "Conversation", quick: "Quick replies",
      cards: "Cards", image_alt: "Image", openLink: "See the offer", downloadData: "Download my data", welcome: "Hello! I am YouXuan Mall's assistant. How can I help?",
      unknownError: "The file could not be sent. Please try again.",
      dismissed: "Noted: we will not suggest this item again.",
      feedbackFailed: "That did not work. Please try again later."
    }
  };

  var state = {
    language: (script.dataset.language === "en" || script.dataset.language === "zh")
      ? script.dataset.language
      : (navigator.language || "zh").toLowerCase().indexOf("zh") === 0 ? "zh" : "en",
    sessionId: null,
    lastId: 0,
    seenIds: {},
    clientIds: {},
    pending: {},
    socket: null,
    confirmed: false,
    open: false,
    recorder: null,
    typingTimer: null,
    lastTypingSent: 0
  };
  try {
    var saved = JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}");
    if (saved.sessionId) state.sessionId = saved.sessionId;
    if (saved.language === "zh" || saved.language === "en") state.language = saved.language;
  } catch (ignored) { /* storage blocked: the session lasts as long as the page */ }

  function t(key, values) {
    var text = STRINGS[state.language][key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  function persist() {
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify({
        sessionId: state.sessionId, language: state.language
      }));
    } catch (ignored) { /* see above */ }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.indexOf("on") === 0) node.addEventListener(name.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // Icons as inline SVG: emoji fonts are missing on many systems (and in headless browsers).
  var ICONS = {
    chat: "M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z",
    mic: "M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zM5 11a7 7 0 0 0 14 0M12 18v3M9 21h6",
    stop: "M7 7h10v10H7z",
    image: "M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15 9.5a1.5 1.5 0 1 0 0.01 0",
    close: "M6 6l12 12M18 6L6 18"
  };

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function setIcon(button, name) {
    button.textContent = "";
    button.appendChild(icon(name));
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---- the DOM ------------------------------------------------------------------------------
  var host = el("div", { id: "youxuan-chat" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/widget/widget.css" }));

  var launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false",
    "aria-controls": "yx-panel", onclick: function () { toggle(); } });
  var title = el("h2", { id: "yx-title" });
  var subtitle = el("p", { class: "subtitle" });
  var langButton = el("button", { type: "button", class: "lang", onclick: function () {
    setLanguage(state.language === "zh" ? "en" : "zh");
  } });
  var closeButton = el("button", { type: "button", class: "close", onclick: function () { toggle(false); } });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", tabindex: "0" });
  var status = el("p", { class: "status", role: "status", "aria-live": "polite" });
  var typing = el("div", { class: "typing", hidden: true, "aria-hidden": "true" }, [
    el("span"), el("span"), el("span")
  ]);
  var quick = el("div", { class: "quick", role: "group" });
  var input = el("textarea", { rows: "1", class: "input", maxlength: "2000" });
  var sendButton = el("button", { type: "submit", class: "send" });
  var micButton = el("button", { type: "button", class: "mic", "aria-pressed": "false",
    onclick: function () { toggleRecording(); } });
  var fileInput = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp",
    class: "file", tabindex: "-1", "aria-hidden": "true", onchange: function () {
      if (fileInput.files && fileInput.files[0]) sendImage(fileInput.files[0]);
      fileInput.value = "";
    } });
  var imageButton = el("button", { type: "button", class: "image",
    onclick: function () { fileInput.click(); } });
  var form = el("form", { class: "composer", onsubmit: function (event) {
    event.preventDefault(); sendText(); } }, [imageButton, micButton, input, sendButton, fileInput]);
  var panel = el("section", { id: "yx-panel", class: "panel", role: "dialog",
    "aria-labelledby": "yx-title", hidden: true }, [
    el("header", {}, [el("div", { class: "heading" }, [title, subtitle]), langButton, closeButton]),
    status, log, typing, quick, form
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (state.socket && state.confirmed && now - state.lastTypingSent > 2000) {
      state.lastTypingSent = now;
      state.socket.emit("user_typing", { session_id: state.sessionId });
    }
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") toggle(false);
  });

  function label() {
    host.setAttribute("lang", state.language === "zh" ? "zh-CN" : "en");
    launcher.setAttribute("aria-label", t("open"));
    setIcon(launcher, "chat");
    title.textContent = t("title");
    subtitle.textContent = t("subtitle");
    langButton.textContent = t("lang");
    langButton.setAttribute("aria-label", t("langLabel"));
    setIcon(closeButton, "close");
    closeButton.setAttribute("aria-label", t("close"));
    log.setAttribute("aria-label", t("log"));
    quick.setAttribute("aria-label", t("quick"));
    input.setAttribute("placeholder", t("placeholder"));
    input.setAttribute("aria-label", t("input"));
    sendButton.textContent = t("send");
    setIcon(micButton, state.recorder ? "stop" : "mic");
    micButton.setAttribute("aria-label", state.recorder ? t("stop") : t("record"));
    setIcon(imageButton, "image");
    imageButton.setAttribute("aria-label", t("image"));
  }

  function setLanguage(language) {
    state.language = language;
    persist();
    label();
  }

  function toggle(open) {
    state.open = open === undefined ? !state.open : open;
    panel.hidden = !state.open;
    launcher.setAttribute("aria-expanded", String(state.open));
    if (state.open) {
      connect();
      input.focus();
    } else {
      launcher.focus();
    }
  }

  // ---- rendering ----------------------------------------------------------------------------
  function scroll() { log.scrollTop = log.scrollHeight; }

  function bubble(kind, who, children, messageId) {
    var item = el("div", { class: "msg " + kind, "data-message-id": messageId || null }, [
      el("span", { class: "who", text: who })
    ].concat(children));
    log.appendChild(item);
    scroll();
    return item;
  }

  function textNode(text) { return el("p", { class: "text", text: text }); }

  function authorLabel(message) {
    if (message.author === "agent") return t("agent");
    if (message.author === "system") return t("system");
    return t("bot");
  }

  function renderAttachment(attachment) {
    if (!attachment || typeof attachment !== "object") return null;
    var payload = attachment.payload || {};
    if (attachment.type === "image" && payload.src) {
      return el("img", { class: "picture", src: payload.src, alt: payload.title || t("image_alt") });
    }
    if (attachment.type === "template" && Array.isArray(payload.elements)) {
      var list = el("ul", { class: payload.elements.length > 1 ? "cards carousel" : "cards",
        "aria-label": t("cards") });
      payload.elements.forEach(function (card) { list.appendChild(renderCard(card || {})); });
      return list;
    }
    return null;
  }

  // A recommendation card's "Details" / "Not interested": reported to the hub as a click or a
  // dismiss event; the card changes only once the hub has stored it.
  function sendFeedback(button, onStored, onRefused) {
    if (!state.socket || !state.sessionId) { onRefused(); return; }
    state.socket.emit("recommendation_feedback", { session_id: state.sessionId,
      event: button.event, item_id: button.item_id,
      device: window.innerWidth < 600 ? "mobile" : "desktop" }, function (ack) {
      if (ack && ack.ok) onStored(); else onRefused();
    });
  }

  function feedbackButton(card, button, item, details, note) {
    return el("button", { type: "button", class: "feedback " + button.event, text: button.title,
      onclick: function () {
        note.textContent = "";
        sendFeedback(button, function () {
          if (button.event === "dismiss") {
            item.classList.add("dismissed");
            note.textContent = t("dismissed");
            item.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
          } else if (details) {
            details.hidden = false;
          }
        }, function () { note.textContent = t("feedbackFailed"); });
      } });
  }

  function renderCard(card) {
    var buttons = el("div", { class: "card-buttons" });
    var details = card.details ? el("p", { class: "details", text: card.details, hidden: true }) : null;
    var note = el("p", { class: "card-note", role: "status" });
    var item = el("li", { class: "card" });
    (card.buttons || []).forEach(function (button) {
      if (button.type === "recommendation_feedback" && button.item_id &&
          (button.event === "click" || button.event === "dismiss")) {
        buttons.appendChild(feedbackButton(card, button, item, details, note));
      } else if (button.type === "web_url" && /^https?:\/\//.test(button.url || "")) {
        buttons.appendChild(el("a", { href: button.url, target: "_blank", rel: "noopener noreferrer",
          text: button.title || button.url }));
      } else if (button.payload) {
        buttons.appendChild(el("button", { type: "button", text: button.title || button.payload,
          onclick: function () { choose(button.title || button.payload, button.payload); } }));
      }
    });
    [
      card.image_url ? el("img", { src: card.image_url, alt: card.title || t("image_alt") }) : null,
      el("strong", { text: card.title || "" }),
      card.subtitle ? el("p", { text: card.subtitle }) : null,
      details, buttons, note
    ].forEach(function (child) { if (child) item.appendChild(child); });
    return item;
  }

  function showQuickReplies(replies) {
    quick.textContent = "";
    (replies || []).forEach(function (reply) {
      quick.appendChild(el("button", { type: "button", text: reply.title,
        onclick: function () { choose(reply.title, reply.payload); } }));
    });
  }

  function renderBot(message) {
    if (message.message_id) {
      if (state.seenIds[message.message_id]) return;
      state.seenIds[message.message_id] = true;
      state.lastId = Math.max(state.lastId, message.message_id);
    }
    var parts = [];
    if (message.text) parts.push(textNode(message.text));
    var attachment = renderAttachment(message.attachment);
    if (attachment) parts.push(attachment);
    var custom = message.custom || {};
    if (custom.kind === "marketing" && /^https?:\/\//.test(custom.link || "")) {
      parts.push(el("a", { class: "campaign-link", href: custom.link, target: "_blank",
        rel: "noopener noreferrer", text: t("openLink") }));
    }
    // The export asked for in the chat: a link on the hub (relative without BOT_PUBLIC_URL).
    if (custom.kind === "privacy_export" && /^(https?:\/\/|\/privacy\/download\/)/.test(custom.link || "")) {
      parts.push(el("a", { class: "campaign-link", href: new URL(custom.link, BASE).href,
        target: "_blank", rel: "noopener noreferrer", text: t("downloadData") }));
    }
    if (!parts.length) return;
    var kind = message.error ? "bot error" : message.author === "agent" ? "bot agent" : "bot";
    var who = authorLabel(message);
    if (message.author === "agent" && message.agent_name) who = message.agent_name;
    bubble(kind, who, parts, message.message_id);
    showQuickReplies(message.quick_replies || message.buttons);
    showTyping(false);
  }

  function mediaParts(media, preview) {
    var parts = [];
    if (preview) parts.push(preview);
    var prefix = media.kind === "audio" ? t("heard") : t("read");
    if (media.kind === "audio") {
      var tag = el("span", { class: "tag" }, [icon("mic")]);
      tag.appendChild(document.createTextNode(t("voice")));
      parts.unshift(tag);
    }
    parts.push(el("p", { class: "text read", text: media.text ? prefix + media.text : t("reading") }));
    return parts;
  }

  function renderMine(message) {
    if (message.message_id) {
      if (state.seenIds[message.message_id]) return;
      state.seenIds[message.message_id] = true;
      state.lastId = Math.max(state.lastId, message.message_id);
    }
    if (message.client_message_id && state.clientIds[message.client_message_id]) return;
    if (message.media && message.media.attachment_id) {
      var preview = message.media.kind === "image" ? el("img", { class: "picture",
        alt: t("image_alt"),
        src: BASE + "/webchat/media/" + encodeURIComponent(message.media.attachment_id) +
          "?session_id=" + encodeURIComponent(state.sessionId) }) : null;
      bubble("mine", t("you"), mediaParts(message.media, preview), message.message_id);
    } else {
      bubble("mine", t("you"), [textNode(message.text)], message.message_id);
    }
  }

  function showTyping(on, text) {
    clearTimeout(state.typingTimer);
    typing.hidden = !on;
    status.textContent = on ? (text || t("typing")) : "";
    if (on) state.typingTimer = setTimeout(function () { showTyping(false); }, 20000);
  }

  function notice(text) { bubble("bot error", t("system"), [textNode(text)]); }

  // ---- socket.io ----------------------------------------------------------------------------
  function loadSocketIo(callback) {
    if (window.io) { callback(); return; }
    var tag = document.createElement("script");
    tag.src = BASE + "/static/vendor/socket.io-4.8.4.min.js";
    tag.onload = callback;
    document.head.appendChild(tag);
  }

  function connect() {
    if (state.socket) return;
    loadSocketIo(function () {
      if (state.socket) return;
      var options = { transports: ["websocket", "polling"], reconnectionDelayMax: 5000 };
      if (CUSTOMER) options.auth = CUSTOMER;
      var socket = window.io(BASE, options);
      state.socket = socket;
      socket.on("connect", function () {
        status.textContent = "";
        // lastId 0 after a page load: the whole history; after a reconnect: what was missed.
        socket.emit("session_request", { session_id: state.sessionId, last_message_id: state.lastId });
      });
      socket.on("disconnect", function () { state.confirmed = false; status.textContent = t("offline"); });
      socket.on("session_confirm", function (confirmed) {
        state.sessionId = (confirmed && confirmed.session_id) || confirmed;
        state.confirmed = true;
        persist();
      });
      socket.on("identity", function (identity) {
        // For the shop's developers: a refused id leaves the chat anonymous, and says why.
        host.setAttribute("data-identity", identity && identity.verified ? "verified" : "refused");
        if (identity && !identity.verified && window.console) {
          window.console.warn("YouXuan chat: customer not identified: " +
            ((identity.error && identity.error.detail) || "unknown reason"));
        }
      });
      socket.on("history", function (data) {
        var messages = (data && data.messages) || [];
        // The greeting is the widget's own, never stored: it heads the log on every page load.
        if (!log.querySelector(".msg")) bubble("bot welcome", t("bot"), [textNode(t("welcome"))]);
        messages.forEach(function (m) { if (m.direction === "in") renderMine(m); else renderBot(m); });
        scroll();
      });
      socket.on("bot_uttered", renderBot);
      socket.on("media_read", function (read) {
        var pending = read && read.client_message_id && state.pending[read.client_message_id];
        if (!pending) return;
        var textEl = pending.querySelector(".read");
        if (textEl) {
          textEl.textContent = (read.kind === "audio" ? t("heard") : t("read")) + read.text;
        }
        showTyping(true);
      });
      socket.on("typing", function (data) {
        showTyping(true, t("agentTyping", { name: (data && data.name) || t("agent") }));
      });
    });
  }

  function emitUtterance(text, display) {
    var clientId = newId();
    state.clientIds[clientId] = true;
    bubble("mine", t("you"), [textNode(display || text)]);
    quick.textContent = "";
    showTyping(true);
    var message = { message: text, session_id: state.sessionId, client_message_id: clientId,
      customData: { language: state.language } };
    if (display) message.display_text = display;
    state.socket.emit("user_uttered", message);
  }

  function sendText() {
    var text = input.value.trim();
    if (!text || !state.confirmed) return;
    input.value = "";
    emitUtterance(text);
  }

  function choose(titleText, payload) {
    if (!state.confirmed) return;
    emitUtterance(payload, titleText);
  }

  // ---- uploads ------------------------------------------------------------------------------
  function upload(file, filename, pendingBubble, clientId) {
    var body = new FormData();
    body.append("session_id", state.sessionId || "");
    body.append("language", state.language);
    body.append("client_message_id", clientId);
    body.append("file", file, filename);
    showTyping(true, t("reading"));
    return window.fetch(BASE + "/webchat/upload", { method: "POST", body: body })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return;
          showTyping(false);
          pendingBubble.classList.add("failed");
          var read = pendingBubble.querySelector(".read");
          if (read) read.textContent = t("failed");
          notice(data.reply || t("unknownError"));
        });
      })
      .catch(function () {
        showTyping(false);
        pendingBubble.classList.add("failed");
        notice(t("unknownError"));
      });
  }

  function sendImage(file) {
    if (!state.confirmed) return;
    if (file.size > MAX_IMAGE_BYTES) { notice(t("tooBig")); return; }
    var clientId = newId();
    state.clientIds[clientId] = true;
    var preview = el("img", { class: "picture", alt: t("image_alt"), src: URL.createObjectURL(file) });
    var pendingBubble = bubble("mine", t("you"), mediaParts({ kind: "image", text: "" }, preview));
    state.pending[clientId] = pendingBubble;
    upload(file, file.name || "image", pendingBubble, clientId);
  }

  function toggleRecording() {
    if (state.recorder) { state.recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) { notice(t("noMic")); return; }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      var recorder = new window.MediaRecorder(stream);
      var started = Date.now();
      var ticker = setInterval(function () {
        var seconds = Math.round((Date.now() - started) / 1000);
        status.textContent = t("recording", { s: seconds });
        if (seconds >= MAX_RECORD_S) recorder.stop();
      }, 500);
      recorder.ondataavailable = function (event) { if (event.data.size) chunks.push(event.data); };
      recorder.onstop = function () {
        clearInterval(ticker);
        stream.getTracks().forEach(function (track) { track.stop(); });
        state.recorder = null;
        micButton.setAttribute("aria-pressed", "false");
        status.textContent = "";
        label();
        var type = recorder.mimeType || "audio/webm";
        var blob = new Blob(chunks, { type: type });
        var clientId = newId();
        state.clientIds[clientId] = true;
        var pendingBubble = bubble("mine", t("you"), mediaParts({ kind: "audio", text: "" }));
        state.pending[clientId] = pendingBubble;
        var extension = type.indexOf("mp4") >= 0 ? "m4a" : type.indexOf("ogg") >= 0 ? "ogg" : "webm";
        upload(blob, "voice." + extension, pendingBubble, clientId);
      };
      state.recorder = recorder;
      micButton.setAttribute("aria-pressed", "true");
      label();
      recorder.start(250);
    }).catch(function () { notice(t("noMic")); });
  }

  // ---- start --------------------------------------------------------------------------------
  label();
  function mount() {
    document.body.appendChild(host);
    if (script.dataset.open === "true") toggle(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  window.YouXuanChat = {
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    setLanguage: setLanguage,
    send: function (text) { if (state.socket && text) emitUtterance(String(text)); }
  };
})();
