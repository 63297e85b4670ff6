// Undelivered messages: what the messaging apps did not take, with "retry now" and "give up".
// Every value from the server is set as text, never as markup.
(function () {
  "use strict";
  const STRINGS = {
    zh: { title: "未送达消息", heading: "消息应用未接收的回复",
          hint: "失败的发送会自动按退避重试；这里可以立即重试，或放弃。",
          app: "应用", recipient: "接收人", status: "状态", attempts: "尝试次数", error: "最近的错误",
          next: "下次尝试", retry: "立即重试", giveUp: "放弃", none: "没有未送达的消息",
          pending: "重试中", gave_up: "已放弃", confirm: "放弃这条消息？客户将收不到它。" },
    en: { title: "Undelivered messages", heading: "Replies the messaging apps did not take",
          hint: "Failed sends are retried with backoff by themselves; here you can retry at once, or give up.",
          app: "App", recipient: "Recipient", status: "Status", attempts: "Attempts", error: "Last error",
          next: "Next attempt", retry: "Retry now", giveUp: "Give up", none: "No undelivered messages",
          pending: "retrying", gave_up: "given up",
          confirm: "Give up this message? The customer will not get it." },
  };
  const s = (key) => (STRINGS[window.I18N.lang] || STRINGS.en)[key];
  const $ = (id) => document.getElementById(id);

  function cell(text) { const td = document.createElement("td"); td.textContent = String(text ?? ""); return td; }

  function labels() {
    document.querySelectorAll("[data-ob]").forEach((el) => { el.textContent = s(el.dataset.ob); });
  }

  async function act(id, action) {
    if (action === "give-up" && !window.confirm(s("confirm"))) return;
    try {
      await window.ConsoleApi.call("POST", `/console/api/outbox/${id}/${action}`);
      $("ob-error").textContent = "";
    } catch (error) {
      $("ob-error").textContent = error.message;
    }
    await refresh();
  }

  async function refresh() {
    const response = await fetch("/console/api/outbox", { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { $("ob-error").textContent = data.detail || response.statusText; return; }
    const rows = data.items.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(m.id);
      const buttons = document.createElement("td");
      const retry = document.createElement("button");
      retry.type = "button"; retry.className = "retry"; retry.textContent = s("retry");
      retry.addEventListener("click", () => act(m.id, "retry"));
      buttons.append(retry);
      if (m.status !== "gave_up") {
        const stop = document.createElement("button");
        stop.type = "button"; stop.className = "give-up"; stop.textContent = s("giveUp");
        stop.addEventListener("click", () => act(m.id, "give-up"));
        buttons.append(stop);
      }
      const next = m.status === "gave_up" ? "–" : new Date(m.next_attempt_at).toLocaleString();
      tr.append(cell(m.channel), cell(m.recipient), cell(s(m.status) || m.status), cell(m.attempts),
                cell(m.last_error), cell(next), buttons);
      return tr;
    });
    if (!rows.length) {
      const td = cell(s("none")); td.colSpan = 7;
      const tr = document.createElement("tr"); tr.append(td); rows.push(tr);
    }
    $("stuck").replaceChildren(...rows);
  }

  document.addEventListener("DOMContentLoaded", () => { labels(); refresh(); });
  document.addEventListener("langchange", () => { labels(); refresh(); });
})();
