// Admins act on one customer's personal data (PIPL arts. 45 and 47): export it as a zip, read
// their consents and the audit log, erase it. Every call goes to the admin API under the admin's
// own console session (the hub audits it under their id); every value from the server is set as
// text, never as markup.
(function () {
  "use strict";
  const STRINGS = {
    zh: { title: "个人数据", customer: "客户", channel: "渠道", sender: "发送者 ID",
          hint: "按渠道和发送者 ID 找到客户（rest 渠道为商城的客户 ID）。每次导出、查看同意记录和删除都会以您的名义写入审计日志。",
          reason: "原因（必填，不要引用消息内容）", export: "导出（zip）", consents: "同意记录",
          audit: "审计日志", erase: "删除该客户的数据", records: "记录",
          needed: "请填写发送者 ID 和原因。", exported: "已下载导出文件：",
          confirm: "删除 {who} 的全部数据？消息、图片语音、推荐和营销记录将被删除，工单匿名化。此操作无法撤销。",
          erased: "已删除。", purpose: "用途", granted: "同意", where: "渠道", when: "时间", by: "操作人",
          action: "操作", who: "客户", why: "原因", none: "没有记录", yes: "是", no: "否",
          adminsOnly: "此页面仅供管理员使用。" },
    en: { title: "Personal data", customer: "Customer", channel: "Channel", sender: "Sender id",
          hint: "Find the customer by channel and sender id (on rest, the shop's customer id). Every export, consent read and erasure is written to the audit log under your name.",
          reason: "Reason (required; never quote a message)", export: "Export (zip)",
          consents: "Consents", audit: "Audit log", erase: "Erase this customer's data",
          records: "Records", needed: "Fill in the sender id and the reason.",
          exported: "Export downloaded: ",
          confirm: "Erase all data of {who}? Messages, pictures and voice, recommendation and marketing records are deleted, tickets anonymised. This cannot be undone.",
          erased: "Erased.", purpose: "Purpose", granted: "Granted", where: "Channel", when: "When",
          by: "By", action: "Action", who: "Customer", why: "Reason", none: "No records",
          yes: "yes", no: "no", adminsOnly: "This page is for admins." },
  };
  const s = (key) => (STRINGS[window.I18N.lang] || STRINGS.en)[key];
  const $ = (id) => document.getElementById(id);

  function labels() {
    document.querySelectorAll("[data-pd]").forEach((el) => { el.textContent = s(el.dataset.pd); });
  }

  function cell(tag, text) { const td = document.createElement(tag); td.textContent = String(text ?? ""); return td; }

  function table(columns, rows) {
    const head = document.createElement("tr");
    head.append(...columns.map((c) => cell("th", s(c))));
    $("pd-head").replaceChildren(head);
    const body = rows.map((values) => { const tr = document.createElement("tr"); tr.append(...values.map((v) => cell("td", v))); return tr; });
    if (!body.length) { const td = cell("td", s("none")); td.colSpan = columns.length; const tr = document.createElement("tr"); tr.append(td); body.push(tr); }
    $("pd-rows").replaceChildren(...body);
  }

  function customer() {
    const sender = $("pd-sender").value.trim();
    const reason = $("pd-reason").value.trim();
    if (!sender || !reason) { throw new Error(s("needed")); }
    const channel = $("pd-channel").value;
    const base = `/admin/privacy/customers/${encodeURIComponent(channel)}/${encodeURIComponent(sender)}`;
    return { channel, sender, reason, base };
  }

  async function attempt(work) {
    $("pd-error").textContent = ""; $("pd-status").textContent = "";
    try { await work(); } catch (error) { $("pd-error").textContent = error.status === 403 ? `${s("adminsOnly")} ${error.message}` : error.message; }
  }

  async function exportZip() {
    const who = customer();
    const response = await fetch(`${who.base}/export?reason=${encodeURIComponent(who.reason)}`, { credentials: "same-origin" });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      const error = new Error(typeof data.detail === "string" ? data.detail : response.statusText);
      error.status = response.status; throw error;
    }
    const name = `personal-data-${who.channel}.zip`;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name;
    link.click();
    URL.revokeObjectURL(link.href);
    $("pd-status").textContent = s("exported") + name;
  }

  async function consents() {
    const who = customer();
    const data = await window.ConsoleApi.call("GET", `${who.base}/consents`);
    table(["purpose", "where", "granted", "when", "by"], data.history.map((c) => [
      c.purpose, c.channel, c.granted ? s("yes") : s("no"), new Date(c.recorded_at).toLocaleString(), c.actor_kind,
    ]));
  }

  async function audit() {
    const who = customer();
    const key = who.channel === "rest" ? who.sender : `${who.channel}:${who.sender}`;
    const data = await window.ConsoleApi.call("GET", `/admin/privacy/audit?customer_id=${encodeURIComponent(key)}&limit=200`);
    table(["when", "by", "action", "who", "why"], data.records.map((r) => [
      new Date(r.at).toLocaleString(), `${r.actor_kind} ${r.actor_id}`.trim(), r.action, r.customer_id, r.reason,
    ]));
  }

  async function erase() {
    const who = customer();
    if (!window.confirm(s("confirm").replace("{who}", `${who.channel}:${who.sender}`))) return;
    const report = await window.ConsoleApi.call("DELETE", who.base, { reason: who.reason });
    const items = [];
    for (const [part, counts] of Object.entries(report)) {
      if (part === "customer" || part === "audit_id") continue;
      const dt = document.createElement("dt"); dt.textContent = part;
      const dd = document.createElement("dd");
      dd.textContent = typeof counts === "object" ? JSON.stringify(counts) : String(counts);
      items.push(dt, dd);
    }
    $("pd-report").replaceChildren(...items);
    $("pd-status").textContent = s("erased");
  }

  document.addEventListener("DOMContentLoaded", () => {
    labels();
    $("pd-export").addEventListener("click", () => attempt(exportZip));
    $("pd-consents").addEventListener("click", () => attempt(consents));
    $("pd-audit").addEventListener("click", () => attempt(audit));
    $("pd-erase").addEventListener("click", () => attempt(erase));
    $("pd-form").addEventListener("submit", (event) => event.preventDefault());
  });
  document.addEventListener("langchange", labels);
})();
