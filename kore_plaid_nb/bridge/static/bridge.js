// The authorization page: asks the bridge for a Link token (only when it opens Link), opens
// Plaid Link, sends the public token to the bridge, then follows the bridge's redirect to the
// Kore callback. /oauth-return re-opens Link with
// receivedRedirectUri (OAuth institutions) using what the first page left in localStorage.
(function () {
  "use strict";
  var KEY = "kore-plaid-bridge";
  // Authorization URLs this browser already finished (connected or cancelled): a reload or
  // Back after the end must not start a second authorization for the same state.
  var DONE_KEY = "kore-plaid-bridge-finished";
  var DONE_KEEP = 20;
  var root = document.getElementById("bridge");
  var message = document.getElementById("message");
  var button = document.getElementById("connect");
  var deny = document.getElementById("deny");
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

  function show(text, isError) {
    // An error is announced at once (role=alert), progress politely (role=status).
    message.setAttribute("role", isError ? "alert" : "status");
    message.setAttribute("aria-live", isError ? "assertive" : "polite");
    message.textContent = text;
    message.className = "message " + (isError ? "error" : "notice");
  }
  function remember(ctx) {
    try { localStorage.setItem(KEY, JSON.stringify(ctx)); } catch (e) { /* private mode */ }
  }
  function recall() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function forget() {
    try { localStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
  }
  function finishedRequests() {
    try { return JSON.parse(localStorage.getItem(DONE_KEY) || "[]"); } catch (e) { return []; }
  }
  function markFinished(requestUrl) {
    if (!requestUrl) { return; }
    var list = finishedRequests().filter(function (u) { return u !== requestUrl; });
    list.push(requestUrl);
    try {
      localStorage.setItem(DONE_KEY, JSON.stringify(list.slice(-DONE_KEEP)));
    } catch (e) { /* private mode */ }
  }
  function leave(url) {
    markFinished(ctx && ctx.requestUrl);
    forget();
    window.location.assign(url);
  }
  function endHere(text, isError) {
    show(text, isError);
    button.hidden = true;
    deny.hidden = true;
    next.hidden = true;
  }

  var ctx;
  if (root.dataset.mode === "authorize") {
    if (finishedRequests().indexOf(window.location.href) !== -1) {
      endHere(_("This authorization request is already finished. You can close this page " +
                "and go back to the conversation; to connect again, start a new authorization " +
                "there."));
      return;
    }
    ctx = {
      session: root.dataset.session,
      linkToken: "",
      denyUrl: root.dataset.denyUrl,
      requestUrl: window.location.href
    };
    remember(ctx);
  } else {
    ctx = recall();
    if (!ctx || !ctx.session) {
      endHere(_("No authorization is in progress in this browser: your bank may have " +
                "opened this page in a different browser from the one you started in. Go back " +
                "to the conversation and start the authorization again."), true);
      return;
    }
    deny.href = ctx.denyUrl;
  }

  function sentence(text) {
    text = String(text).trim();
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function describe(body) {
    var text = sentence((body && body.message) || _("Connecting the account failed"));
    if (body && body.fix) { text += " " + sentence(body.fix); }
    if (body && body.step) { text += " " + _("(procedure step %(step)s)", { step: body.step }); }
    return text;
  }

  // POST a JSON body to the bridge (every call of the page goes through here); keepalive lets
  // a call finish while the page navigates away.
  function post(path, payload, keepalive) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "Accept-Language": LANGUAGE },
      credentials: "same-origin",
      keepalive: !!keepalive,
      body: JSON.stringify(payload)
    });
  }

  // POST to the bridge (or take the answer, {ok, body}, of that POST sent by early.js:
  // ``sent``); onOk(body) for a 2xx answer, else the page explains.
  function callBridge(path, payload, onOk, sent) {
    (sent || post(path, payload, false).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, body: body };
      });
    })).then(function (answer) {
      if (answer.ok) {
        onOk(answer.body);
      } else {
        refused(answer.body);
      }
    }).catch(function () {
      show(_("The page could not reach the bridge. Check your connection and press " +
             "\u201c%(button)s\u201d again.", { button: button.textContent }), true);
      button.disabled = false;
    });
  }

  // Tell the bridge the user left Link (its metrics count it): fire and forget.
  function tellExit(error) {
    post("/api/link_exit", { session: ctx.session, error: !!error }, true)
      .catch(function () { /* only a figure is lost */ });
  }

  function refused(body) {
    if (body.error === "session_used") {
      // Finished elsewhere (another tab, or before a reload): nothing left to do here.
      endHere(describe(body), true);
    } else if (body.error === "session_expired" || body.error === "invalid_session" ||
               body.error === "too_many_link_tokens") {
      show(describe(body), true);
      button.hidden = true;  // a new Link run cannot help; cancelling tells Kore
      next.hidden = true;
      deny.focus();
    } else {
      show(describe(body), true);
      button.disabled = false;
      button.focus();
    }
  }

  function finish(publicToken) {
    button.disabled = true;
    show(_("Connecting your account\u2026"), false);
    callBridge("/api/set_access_token", { session: ctx.session, public_token: publicToken },
      function (body) {
        if (body.redirect_to) {
          show(_("Connected. Returning to the conversation\u2026"), false);
          leave(body.redirect_to);
        } else {
          refused(body);
        }
      });
  }

  // The Link token is asked for by a browser that runs the page, which opens Link at once:
  // a page that is only fetched (a preview, a crawler) costs no Plaid call. The page's
  // <head> sent that request (early.js) while the page loaded; a retry sends its own.
  function withLinkToken(then) {
    if (ctx.linkToken) { then(); return; }
    var early = window.kpLinkToken;
    window.kpLinkToken = null;
    callBridge("/api/link_token", { session: ctx.session }, function (body) {
      if (!body.link_token) { refused(body); return; }
      ctx.linkToken = body.link_token;
      remember(ctx);  // /oauth-return re-opens Link with this same token
      then();
    }, early);
  }

  function openLink(received) {
    if (!window.Plaid || !window.Plaid.create) {
      show(_("Plaid Link could not be loaded. Check your connection and reload the page."),
           true);
      return;
    }
    button.disabled = true;
    withLinkToken(function () { createLink(received); });
  }

  function createLink(received) {
    var config = {
      token: ctx.linkToken,
      onSuccess: function (publicToken) { finish(publicToken); },
      onExit: function (error) {
        tellExit(error);
        if (error) {
          var why = error.display_message || error.error_message || error.error_code ||
            _("an unknown error");
          show(_("Plaid could not connect your bank: %(why)s Press \u201c%(button)s\u201d to " +
                 "try again, or cancel.", { why: sentence(why), button: button.textContent }),
               true);
          button.disabled = false;
          button.focus();
          return;
        }
        show(_("You closed Plaid Link. Returning to the conversation without " +
               "connecting\u2026"), false);
        leave(ctx.denyUrl);
      }
    };
    if (received) { config.receivedRedirectUri = window.location.href; }
    button.disabled = true;
    window.Plaid.create(config).open();
    button.disabled = false;
  }

  button.addEventListener("click", function () { openLink(false); });
  // Cancel is the user leaving too: counted like closing Link (keepalive outlives the page).
  deny.addEventListener("click", function (event) {
    event.preventDefault();
    tellExit(false);
    leave(deny.href);
  });
  openLink(root.dataset.mode === "oauth-return");
})();
