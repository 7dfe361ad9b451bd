// The Hosted Link "finishing" page: asks the bridge again every few seconds (JSON, the same
// address) instead of reloading itself, so a screen reader is not interrupted; goes on when
// Plaid has finished. Without JavaScript, the page's <noscript> refresh does the same.
(function () {
  "use strict";
  var root = document.getElementById("finishing");
  var message = root.querySelector(".message");
  var url = root.dataset.retryUrl;
  var delay = Math.max(1, Number(root.dataset.seconds) || 2) * 1000;

  function refused(body) {
    var text = [body.message, body.fix].filter(Boolean).join(" ");
    message.setAttribute("role", "alert");
    message.className = "message error";
    message.textContent = text || message.textContent;
  }

  function check() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.status === 202) {
            window.setTimeout(check, delay);
          } else if (response.ok && body.redirect_to) {
            window.location.assign(body.redirect_to);
          } else {
            refused(body);
          }
        });
      })
      .catch(function () { window.setTimeout(check, delay); });  // offline for a moment
  }

  window.setTimeout(check, delay);
})();
