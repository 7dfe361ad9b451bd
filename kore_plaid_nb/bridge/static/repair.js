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

  // The page's texts in its language: the page puts msgid -> translation in #kp-strings;
  // a msgid with no translation there (English) is shown as it is.
  var STRINGS = (function () {
    var block = document.getElementById("kp-strings");
    try { return (block && JSON.parse(block.textContent)) || {}; } catch (e) { return {}; }
  })();
  function _(msgid, values) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, msgid) ? STRINGS[msgid] : msgid;
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ?
        String(values[name]) : all;
    });
  }
  var LANGUAGE = document.documentElement.lang || "en";
  var base = "/repair/" + encodeURIComponent(root.dataset.token);
  var lang = "?lang=" + encodeURIComponent(LANGUAGE);  // Link opens in the page's language
  var linkToken = "";

  function show(text, isError) {
    // An error is announced at once (role=alert), progress politely (role=status).
    message.setAttribute("role", isError ? "alert" : "status");
    message.setAttribute("aria-live", isError ? "assertive" : "polite");
    message.textContent = text;
    message.className = "message " + (isError ? "error" : "notice");
  }
  function sentence(text) {
    text = String(text).trim();
    return /[.!?]$/.test(text) ? text : text + ".";
  }
  function describe(body) {
    var text = sentence((body && body.message) || _("Repairing the bank connection failed"));
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
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "Accept-Language": LANGUAGE },
      credentials: "same-origin",
      body: JSON.stringify(params || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) { onOk(body); } else { refused(body); }
      });
    }).catch(function () {
      show(_("The page could not reach the bridge. Check your connection and press " +
             "\u201c%(button)s\u201d again.", { button: button.textContent }), true);
      button.disabled = false;
    });
  }

  function finish() {
    button.disabled = true;
    show(_("Saving the repair\u2026"), false);
    callBridge(base + "/done" + lang, function (body) {
      if (body.repaired) {
        document.getElementById("heading").textContent = _("Bank connection repaired");
        document.getElementById("intro").hidden = true;
        endHere(_("Your bank connection is repaired. You can close this window."), false);
      } else {
        refused(body);
      }
    }, { link_token: linkToken });
  }

  function openLink() {
    if (!window.Plaid || !window.Plaid.create) {
      show(_("Plaid Link could not be loaded. Check your connection and reload the page."),
           true);
      return;
    }
    button.disabled = true;
    if (linkToken) { createLink(); return; }
    callBridge(base + "/link_token" + lang, function (body) {
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
            _("an unknown error");
          show(_("Plaid could not reconnect your bank: %(why)s Press \u201c%(button)s\u201d " +
                 "to try again.", { why: sentence(why), button: button.textContent }), true);
        } else {
          show(_("You closed Plaid before logging in: the bank connection is not repaired " +
                 "yet. Press \u201c%(button)s\u201d to try again.",
                 { button: button.textContent }), false);
        }
        button.disabled = false;
        button.focus();
      }
    }).open();
  }

  button.addEventListener("click", openLink);
  openLink();
})();
