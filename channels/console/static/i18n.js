// UI strings of the console in Chinese and English; the choice is kept in localStorage.
(function () {
  "use strict";
  const STRINGS = {
    zh: {
      "lang.toggle": "English",
      "login.title": "客服登录", "login.username": "用户名", "login.password": "密码",
      "login.submit": "登录", "login.failed": "登录失败：",
      "presence.label": "状态", "presence.online": "在线", "presence.away": "离开",
      "presence.offline": "离线",
      "nav.supervisor": "主管视图", "nav.logout": "退出", "nav.console": "返回工作台", "nav.dashboard": "数据看板",
      "nav.outbox": "未送达消息", "nav.corrections": "意图纠正", "nav.privacy": "个人数据",
      "queue.title": "会话队列", "queue.empty": "暂无等待的会话",
      "chat.title": "对话", "chat.empty": "从左侧选择一个会话", "chat.typing": "客户正在输入…",
      "chat.accept": "接入", "chat.return": "转回机器人", "chat.transfer": "转接",
      "chat.transferGo": "转接", "chat.reply": "回复", "chat.send": "发送",
      "chat.resolution": "处理结果", "chat.close": "结束会话", "chat.canned": "常用回复…",
      "context.title": "客户信息", "context.summary": "摘要", "context.nlu": "意图与槽位",
      "context.sentiment": "情绪趋势", "context.orders": "订单",
      "context.churn": "流失风险", "context.unscored": "尚未评分",
      "context.sources": "机器人引用的知识", "context.suggestions": "建议回复",
      "context.notes": "内部备注", "context.addNote": "添加备注", "context.none": "无",
      "context.nluDown": "对话引擎暂不可用",
      "correction.message": "客户消息", "correction.intent": "正确意图", "correction.send": "纠正意图",
      "correction.sent": "已提交，待主管审核",
      "author.customer": "客户", "author.bot": "机器人", "author.agent": "客服",
      "author.system": "系统",
      "status.queued": "排队中", "status.assigned": "已分配给你", "status.active": "进行中",
      "reason.customer_request": "客户要求", "reason.angry": "客户愤怒",
      "reason.negative_sentiment": "负面情绪", "reason.repeated_fallback": "多次未理解",
      "reason.severe_complaint": "严重投诉", "reason.vip": "VIP", "reason.after_hours_message": "非工作时间留言",
      "media.audio": "收听原语音", "media.image": "查看原图片",
      "msg.sharePhone": "（已提议通过应用核验手机号）",
      "order.pending_payment": "待付款", "order.paid": "已付款", "order.shipped": "已发货",
      "order.delivered": "已签收", "order.completed": "已完成", "order.cancelled": "已取消",
      "order.return_requested": "退货申请中", "order.returned": "已退货", "order.refunded": "已退款",
      "skill.orders": "订单", "skill.refunds": "退款", "skill.technical": "技术",
      "skill.sales": "销售", "skill.general": "综合",
      "transfer.toSkill": "转到队列：", "transfer.toAgent": "转给：",
      "waited": "已等待", "seconds": "秒",
      "visitor": "访客", "channel.webchat": "网页聊天", "channel.rest": "App", "channel.wecom": "企业微信",
      "channel.dingtalk": "钉钉",
      "nav.tickets": "工单", "tk.title": "工单", "tk.loginFirst": "请先登录工作台。", "tk.loginLink": "去登录",
      "tk.list": "工单列表", "tk.view.all": "全部", "tk.view.mine": "我的未结工单",
      "tk.view.soon": "1 小时内将超时", "tk.view.breached": "已超时", "tk.status": "状态",
      "tk.priority": "优先级", "tk.team": "团队", "tk.assignee": "处理人", "tk.sla": "SLA",
      "tk.search": "搜索", "tk.apply": "筛选", "tk.number": "编号", "tk.subject": "主题",
      "tk.due": "到期", "tk.more": "更多", "tk.change": "更改", "tk.assign": "分配", "tk.transfer": "转交",
      "tk.thread": "往来记录", "tk.text": "内容", "tk.reply": "公开回复", "tk.note": "内部备注",
      "tk.history": "变更记录", "tk.when": "时间", "tk.who": "操作人", "tk.field": "字段",
      "tk.all": "全部", "tk.me": "我", "tk.unassigned": "未分配", "tk.empty": "没有符合条件的工单",
      "tk.keys": "快捷键：/ 搜索 · j/k 上下移动 · Enter 打开 · r 回复 · Ctrl+Enter 发送",
      "tk.stale": "此工单刚被他人更新。", "tk.staleShow": "查看最新",
      "tk.count": "共 {n} 张", "tk.overdue": "已超时 {d}", "tk.dueIn": "{d}后到期",
      "tk.category": "类别", "tk.customer": "客户", "tk.channel": "渠道", "tk.conversation": "来源会话",
      "tk.created": "创建时间", "tk.firstDue": "首次响应截止", "tk.resolutionDue": "解决截止",
      "tk.tags": "标签", "tk.description": "描述", "tk.noEntries": "还没有往来记录",
      "tk.textRequired": "请先写内容", "tk.kind.reply": "公开回复", "tk.kind.note": "内部备注",
      "tk.kind.customer": "客户",
      "tk.status.unresolved": "未解决", "tk.status.new": "新建", "tk.status.open": "处理中",
      "tk.status.pending_customer": "等待客户", "tk.status.resolved": "已解决", "tk.status.closed": "已关闭",
      "tk.status.reopened": "重新打开", "tk.sla.ok": "正常", "tk.sla.due_soon": "即将超时",
      "tk.sla.breached": "已超时", "tk.category.order": "订单", "tk.category.return_refund": "退货退款",
      "tk.category.delivery": "物流", "tk.category.payment": "支付", "tk.category.product": "商品",
      "tk.category.account": "账户", "tk.category.complaint": "投诉", "tk.category.other": "其他",
      "tk.picked": "已选 {n} 张", "tk.bulkDone": "已更改 {n} 张", "tk.bulkRefused": "{n} 张未更改",
      "tk.mergeInto": "合并到工单", "tk.force": "不同客户也合并", "tk.merge": "合并",
      "tk.mergeWhich": "请填写要合并到的工单号", "tk.mergedInto": "已合并到",
      "tk.showConversation": "查看来源会话", "tk.conversationTitle": "来源会话",
      "tk.openInConsole": "在工作台中打开",
      "tk.removed": "移除 {v}", "tk.erased": "已删除", "tk.field.status": "状态",
      "tk.field.priority": "优先级", "tk.field.team": "团队", "tk.field.category": "类别",
      "tk.field.assignee": "处理人", "tk.field.subject": "主题", "tk.field.tags": "标签",
      "tk.field.merged_into": "合并到", "tk.field.merged_from": "合并自",
      "tk.field.first_responded_at": "首次响应", "tk.field.first_response_breached_at": "首次响应超时",
      "tk.field.resolution_breached_at": "解决超时", "tk.field.satisfaction": "满意度",
      "tk.field.satisfaction_comment": "满意度评价", "tk.field.personal_data": "个人数据",
      "tk.actor.bot": "机器人", "tk.actor.api": "商家系统 (API)", "tk.actor.system:sla": "SLA 计时",
      "tk.actor.system:retention": "数据保留期限", "tk.actor.customer": "客户",
      "chat.toTicket": "转为工单", "chat.ticketMade": "已创建工单 {n}", "chat.ticketExists": "该会话已有工单 {n}",
      "sup.sla": "各团队 SLA 达标率", "sup.slaHint": "所选时间内创建的工单：已解决且未超时 ÷（已解决且未超时 + 已超时）。",
      "sup.slaDays": "时间范围", "sup.slaTeam": "团队", "sup.slaTickets": "工单数", "sup.slaMet": "达标",
      "sup.slaBreached": "超时", "sup.slaOpen": "未解决", "sup.slaRate": "达标率", "sup.days": "近 {n} 天",
      "sup.title": "主管视图", "sup.queues": "队列", "sup.agents": "客服", "sup.skill": "技能",
      "sup.language": "语言", "sup.waiting": "等待", "sup.active": "进行中",
      "sup.longest": "最长等待(秒)", "sup.agent": "客服", "sup.online": "在线",
      "sup.load": "会话数", "sup.skills": "技能", "sup.open": "未结束会话",
      "sup.gaps": "知识库没能回答的问题（近30天）", "sup.question": "问题", "sup.asked": "次数",
      "sup.last": "最近一次", "sup.now": "现在能答", "sup.noGaps": "近30天没有知识库答不上的问题。",
      "sup.gapsHint": "按被问次数排列，个人信息已隐去。把它们写成常见问题或其他问法即可。",
    },
    en: {
      "lang.toggle": "中文",
      "login.title": "Agent login", "login.username": "Username", "login.password": "Password",
      "login.submit": "Log in", "login.failed": "Login failed: ",
      "presence.label": "Status", "presence.online": "Online", "presence.away": "Away",
      "presence.offline": "Offline",
      "nav.supervisor": "Supervisor view", "nav.logout": "Log out", "nav.console": "Back to console",
      "nav.dashboard": "Analytics", "nav.outbox": "Undelivered messages", "nav.privacy": "Personal data",
      "nav.corrections": "Intent corrections",
      "queue.title": "Queue", "queue.empty": "Nobody is waiting",
      "chat.title": "Conversation", "chat.empty": "Pick a conversation on the left",
      "chat.typing": "The customer is typing…", "chat.accept": "Accept",
      "chat.return": "Return to bot", "chat.transfer": "Transfer", "chat.transferGo": "Transfer",
      "chat.reply": "Reply", "chat.send": "Send", "chat.resolution": "Resolution",
      "chat.close": "Close", "chat.canned": "Canned replies…",
      "context.title": "Customer", "context.summary": "Summary", "context.nlu": "Intent and slots",
      "context.sentiment": "Sentiment", "context.orders": "Orders",
      "context.churn": "Churn risk", "context.unscored": "not scored",
      "context.sources": "Knowledge the bot used", "context.suggestions": "Suggested replies",
      "context.notes": "Internal notes", "context.addNote": "Add note", "context.none": "none",
      "context.nluDown": "the dialogue engine is unavailable",
      "correction.message": "Customer message", "correction.intent": "Right intent",
      "correction.send": "Correct the intent", "correction.sent": "sent for a supervisor's review",
      "author.customer": "Customer", "author.bot": "Bot", "author.agent": "Agent",
      "author.system": "System",
      "status.queued": "queued", "status.assigned": "assigned to you", "status.active": "active",
      "reason.customer_request": "asked for a human", "reason.angry": "angry",
      "reason.negative_sentiment": "negative sentiment", "reason.repeated_fallback": "not understood twice",
      "reason.severe_complaint": "severe complaint", "reason.vip": "VIP",
      "reason.after_hours_message": "after-hours message",
      "media.audio": "play the voice message", "media.image": "open the picture",
      "msg.sharePhone": "(offered to check the number through the app)",
      "order.pending_payment": "awaiting payment", "order.paid": "paid", "order.shipped": "shipped",
      "order.delivered": "delivered", "order.completed": "completed", "order.cancelled": "cancelled",
      "order.return_requested": "return requested", "order.returned": "returned", "order.refunded": "refunded",
      "skill.orders": "orders", "skill.refunds": "refunds", "skill.technical": "technical",
      "skill.sales": "sales", "skill.general": "general",
      "transfer.toSkill": "to queue: ", "transfer.toAgent": "to: ",
      "waited": "waited", "seconds": "s",
      "visitor": "Visitor", "channel.webchat": "web chat", "channel.rest": "app", "channel.wecom": "WeCom",
      "channel.dingtalk": "DingTalk",
      "nav.tickets": "Tickets", "tk.title": "Tickets", "tk.loginFirst": "Log in to the console first.",
      "tk.loginLink": "Log in", "tk.list": "Tickets", "tk.view.all": "All", "tk.view.mine": "My open tickets",
      "tk.view.soon": "Breaching in 1 h", "tk.view.breached": "Breached", "tk.status": "Status",
      "tk.priority": "Priority", "tk.team": "Team", "tk.assignee": "Assignee", "tk.sla": "SLA",
      "tk.search": "Search", "tk.apply": "Filter", "tk.number": "Number", "tk.subject": "Subject",
      "tk.due": "Due", "tk.more": "More", "tk.change": "Change", "tk.assign": "Assign", "tk.transfer": "Transfer",
      "tk.thread": "Thread", "tk.text": "Text", "tk.reply": "Reply publicly", "tk.note": "Internal note",
      "tk.history": "History", "tk.when": "When", "tk.who": "Who", "tk.field": "Field",
      "tk.all": "All", "tk.me": "Me", "tk.unassigned": "unassigned", "tk.empty": "No ticket matches",
      "tk.keys": "Keys: / search · j/k move · Enter open · r reply · Ctrl+Enter send",
      "tk.stale": "Someone else has just changed this ticket.", "tk.staleShow": "Show the new state",
      "tk.count": "{n} tickets", "tk.overdue": "overdue {d}", "tk.dueIn": "in {d}",
      "tk.category": "Category", "tk.customer": "Customer", "tk.channel": "Channel",
      "tk.conversation": "Conversation", "tk.created": "Created", "tk.firstDue": "First response due",
      "tk.resolutionDue": "Resolution due", "tk.tags": "Tags", "tk.description": "Description",
      "tk.noEntries": "Nothing written yet", "tk.textRequired": "Write something first",
      "tk.kind.reply": "Public reply", "tk.kind.note": "Internal note", "tk.kind.customer": "Customer",
      "tk.status.unresolved": "unresolved", "tk.status.new": "new", "tk.status.open": "open",
      "tk.status.pending_customer": "pending customer", "tk.status.resolved": "resolved",
      "tk.status.closed": "closed", "tk.status.reopened": "reopened", "tk.sla.ok": "on time",
      "tk.sla.due_soon": "due soon", "tk.sla.breached": "breached", "tk.category.order": "order",
      "tk.category.return_refund": "return / refund", "tk.category.delivery": "delivery",
      "tk.category.payment": "payment", "tk.category.product": "product", "tk.category.account": "account",
      "tk.category.complaint": "complaint", "tk.category.other": "other",
      "tk.picked": "{n} picked", "tk.bulkDone": "{n} changed", "tk.bulkRefused": "{n} left as they were",
      "tk.mergeInto": "Merge into ticket", "tk.force": "merge although another customer's",
      "tk.merge": "Merge", "tk.mergeWhich": "Write the number of the ticket to merge into",
      "tk.mergedInto": "Merged into", "tk.showConversation": "Show the conversation",
      "tk.conversationTitle": "Originating conversation", "tk.removed": "removed {v}",
      "tk.openInConsole": "Open in the console",
      "tk.erased": "erased", "tk.field.status": "Status", "tk.field.priority": "Priority",
      "tk.field.team": "Team", "tk.field.category": "Category", "tk.field.assignee": "Assignee",
      "tk.field.subject": "Subject", "tk.field.tags": "Tags", "tk.field.merged_into": "Merged into",
      "tk.field.merged_from": "Merged from", "tk.field.first_responded_at": "First response",
      "tk.field.first_response_breached_at": "First response overdue",
      "tk.field.resolution_breached_at": "Resolution overdue", "tk.field.satisfaction": "Satisfaction",
      "tk.field.satisfaction_comment": "Satisfaction comment", "tk.field.personal_data": "Personal data",
      "tk.actor.bot": "Bot", "tk.actor.api": "Shop system (API)", "tk.actor.system:sla": "SLA timer",
      "tk.actor.system:retention": "Retention period", "tk.actor.customer": "Customer",
      "chat.toTicket": "Make a ticket", "chat.ticketMade": "Ticket {n} opened",
      "chat.ticketExists": "This conversation already has ticket {n}",
      "sup.sla": "SLA compliance per team", "sup.slaHint": "Tickets created in the period: resolved on time ÷ (resolved on time + breached).",
      "sup.slaDays": "Period", "sup.slaTeam": "Team", "sup.slaTickets": "Tickets", "sup.slaMet": "On time",
      "sup.slaBreached": "Breached", "sup.slaOpen": "Unresolved", "sup.slaRate": "Compliance", "sup.days": "last {n} days",
      "sup.title": "Supervisor view", "sup.queues": "Queues", "sup.agents": "Agents",
      "sup.skill": "Skill", "sup.language": "Language", "sup.waiting": "Waiting",
      "sup.active": "Active", "sup.longest": "Longest wait (s)", "sup.agent": "Agent",
      "sup.online": "Online", "sup.load": "Chats", "sup.skills": "Skills",
      "sup.open": "Open conversations",
      "sup.gaps": "Questions the knowledge base could not answer (last 30 days)",
      "sup.question": "Question", "sup.asked": "Asked", "sup.last": "Last asked",
      "sup.now": "Answered now", "sup.noGaps": "Nothing went unanswered in the last 30 days.",
      "sup.gapsHint": "Most asked first, personal data hidden. Add them as FAQ entries or as other wordings.",
    },
  };
  let lang = localStorage.getItem("console.lang") ||
    (navigator.language && navigator.language.startsWith("zh") ? "zh" : "en");

  function t(key) {
    return (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  }

  function apply() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
  }

  function toggle() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("console.lang", lang);
    apply();
    document.dispatchEvent(new CustomEvent("langchange"));
  }

  // A wait or a delay in human units ("33 分钟", "1 h 5 min") by the browser's own
  // Intl.DurationFormat; the largest two units, seconds only under a minute, as a person
  // would say it.
  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const parts = { days: Math.floor(s / 86400), hours: Math.floor((s % 86400) / 3600),
                    minutes: Math.floor((s % 3600) / 60), seconds: s < 60 ? s : 0 };
    const order = ["days", "hours", "minutes", "seconds"];
    const first = order.findIndex((unit) => parts[unit] > 0);
    const kept = {};
    if (first < 0) kept.seconds = 0;
    else order.slice(first, first + 2).forEach((unit) => { if (parts[unit]) kept[unit] = parts[unit]; });
    return new Intl.DurationFormat(lang === "zh" ? "zh-CN" : "en", { style: "short" }).format(kept);
  }

  // What a stored message says to an agent, or null for none. Rasa sends an answer's data (the
  // knowledge sources, a card) as a message of its own with no text: nothing to read, so no
  // bubble (the sources are in the console's context panel). The order check's offer to check
  // the number through the app is data alone too, and is named.
  function messageText(message) {
    const payload = message.payload || {};
    if (message.text || payload.media) return message.text || "";
    const custom = payload.custom || {};
    if (custom.share_phone) return t("msg.sharePhone");
    if (payload.image) return payload.image;
    return null;
  }

  window.I18N = { t, apply, toggle, duration, messageText, get lang() { return lang; } };
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click", toggle));
  });
})();
