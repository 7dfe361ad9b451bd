// The repair page (/repair/<token>): asks the bridge for a Link token in update mode (only
// when it opens Link), opens Plaid Link, and on success tells the bridge, which spends the
// single-use link and records the Item as healthy once Plaid confirms the login on that Link
// token. Kore's access token stays the same.
(function () {
  "use strict";
  var root = document.getElementById("repair");
  var message = document.getElementById("message");
  var button = document.getElementById("connect");
  var next = document.getElementById("next");
  var base = "/repair/" + encodeURIComponent(root.dataset.token);
  var linkToken = "";

  function show(text, isError) {
    message.textContent = text;
    message.className = "message " + (isError ? "error" : "notice");
  }
  function sentence(text) {
    text = String(text).trim();
    return /[.!?]$/.test(text) ? text : text + ".";
  }
  function describe(body) {
    var text = sentence((body && body.message) || "Repairing the bank connection failed");
    if (body && body.fix) { text += " " + sentence(body.fix); }
    return text;
  }
  function endHere(text, isError) {
    show(text, isError);
    button.hidden = true;
    next.hidden = true;
  }

  // A link that cannot be used any more (used, expired, removed, Link opened too often):
  // nothing to retry here.
  var FINAL = ["repair_link_unknown", "repair_link_expired", "repair_link_used", "item_removed",
               "too_many_link_tokens"];

  function refused(body) {
    if (FINAL.indexOf(body.error) !== -1) {
      endHere(describe(body), true);
    } else {
      show(describe(body), true);
      button.disabled = false;
      button.focus();
    }
  }

  // POST a JSON body to the bridge; onOk(body) for a 2xx answer, else the page explains.
  function callBridge(path, onOk, params) {
    fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(params || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) { onOk(body); } else { refused(body); }
      });
    }).catch(function () {
      show("The page could not reach the bridge. Check your connection and press \u201c" +
           button.textContent + "\u201d again.", true);
      button.disabled = false;
    });
  }

  function finish() {
    button.disabled = true;
    show("Saving the repair\u2026", false);
    callBridge(base + "/done", function (body) {
      if (body.repaired) {
        document.getElementById("heading").textContent = "Bank connection repaired";
        document.getElementById("intro").hidden = true;
        endHere("Your bank connection is repaired. You can close this window.", false);
      } else {
        refused(body);
      }
    }, { link_token: linkToken });
  }

  function openLink() {
    if (!window.Plaid || !window.Plaid.create) {
      show("Plaid Link could not be loaded. Check your connection and reload the page.", true);
      return;
    }
    button.disabled = true;
    if (linkToken) { createLink(); return; }
    callBridge(base + "/link_token", function (body) {
      if (!body.link_token) { refused(body); return; }
      linkToken = body.link_token;
      createLink();
    });
  }

  function createLink() {
    window.Plaid.create({
      token: linkToken,
      onSuccess: function () { finish(); },
      onExit: function (error) {
        if (error) {
          var why = error.display_message || error.error_message || error.error_code ||
            "an unknown error";
          show("Plaid could not reconnect your bank: " + sentence(why) + " Press \u201c" +
               button.textContent + "\u201d to try again.", true);
        } else {
          show("You closed Plaid before logging in: the bank connection is not repaired " +
               "yet. Press \u201c" + button.textContent + "\u201d to try again.", false);
        }
        button.disabled = false;
        button.focus();
      }
    }).open();
  }

  button.addEventListener("click", openLink);
  openLink();
})();
