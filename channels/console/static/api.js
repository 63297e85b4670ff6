// What every console page shares to call the hub: the console session's same-origin requests,
// every change echoing the double-submit CSRF token the hub set at login, and the hub's refusal
// turned into one readable message (a sentence, a {message} object or FastAPI's error list).
(function () {
  "use strict";

  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("console_csrf="));
    return found ? decodeURIComponent(found.slice("console_csrf=".length)) : "";
  }

  async function call(method, path, body) {
    const headers = body === undefined ? {} : { "Content-Type": "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail;
      let message = response.statusText;
      if (typeof detail === "string") message = detail;
      else if (detail && detail.message) message = detail.message;
      else if (Array.isArray(detail)) message = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  window.ConsoleApi = { csrfToken, call };
})();
