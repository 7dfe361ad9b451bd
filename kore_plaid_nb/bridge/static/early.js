// Inlined at the top of the authorization page's <head> (its CSP allows it by hash): asks the
// bridge for the Link token at once, while the page loads, since the page opens Link by itself
// on load; bridge.js takes the answer (window.kpLinkToken). Not for a request finished in this
// browser (bridge.js shows that) nor when fetch is missing (bridge.js asks itself).
(function () {
  "use strict";
  var me = document.currentScript;
  var done = [];
  try {
    done = JSON.parse(localStorage.getItem("kore-plaid-bridge-finished") || "[]");
  } catch (e) { /* private mode */ }
  if (!me || !window.fetch || done.indexOf(window.location.href) !== -1) { return; }
  var pending = window.fetch("/api/link_token", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept": "application/json",
               "Accept-Language": document.documentElement.lang || "en" },
    credentials: "same-origin",
    body: JSON.stringify({ session: me.getAttribute("data-kp-session") })
  }).then(function (response) {  // read now: bridge.js opens Link as soon as it runs
    return response.json().catch(function () { return {}; }).then(function (body) {
      return { ok: response.ok, body: body };
    });
  });
  pending.catch(function () { /* bridge.js reports it */ });
  window.kpLinkToken = pending;
})();
