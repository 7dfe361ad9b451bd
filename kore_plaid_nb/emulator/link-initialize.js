/* Plaid Link stand-in of the kore-plaid emulator (embedded mode). Not Plaid's code.
 *
 * window.Plaid.create({token, onSuccess, onExit, onEvent, receivedRedirectUri})
 *   -> {open(), exit(), destroy()}
 * The dialog talks to the emulator that served this script with nothing but the link token.
 * Stable element ids: plaid-standin-dialog, -title, -institution, -username, -password,
 * -continue, -exit, -error, -status.
 */
(function () {
  "use strict";
  var script = document.currentScript ||
    Array.prototype.slice.call(document.getElementsByTagName("script")).filter(function (s) {
      return /link-initialize\.js/.test(s.src);
    }).pop();
  var EMULATOR = new URL(script.src, window.location.href).origin;
  var STYLE_ID = "plaid-standin-style";
  var CSS = [
    "#plaid-standin-overlay{position:fixed;inset:0;background:rgba(17,17,17,.55);",
    "display:flex;align-items:center;justify-content:center;z-index:2147483000;",
    "font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}",
    "#plaid-standin-dialog{background:#fff;color:#111;border-radius:12px;",
    "box-sizing:border-box;width:calc(100vw - 24px);max-width:360px;max-height:calc(100vh - 24px);",
    "overflow:auto;padding:20px;box-shadow:0 8px 32px rgba(0,0,0,.3)}",
    "#plaid-standin-dialog h2{font-size:1.2rem;margin:0 0 4px}",
    "#plaid-standin-dialog p{margin:0 0 12px;color:#444;font-size:.9rem}",
    "#plaid-standin-dialog label{display:block;font-weight:600;margin:10px 0 4px}",
    "#plaid-standin-dialog input,#plaid-standin-dialog select{box-sizing:border-box;width:100%;",
    "padding:10px;border:1px solid #767676;border-radius:6px;font:inherit}",
    "#plaid-standin-dialog .plaid-standin-actions{display:flex;gap:8px;margin-top:16px}",
    "#plaid-standin-dialog button{flex:1;padding:12px;border-radius:6px;font:inherit;",
    "font-weight:600;cursor:pointer;border:1px solid #111}",
    "#plaid-standin-continue{background:#111;color:#fff}",
    "#plaid-standin-exit{background:#fff;color:#111}",
    "#plaid-standin-dialog :focus-visible{outline:3px solid #0a66c2;outline-offset:2px}",
    "#plaid-standin-error{color:#a00000;margin-top:10px;font-size:.9rem}",
    "#plaid-standin-status{margin-top:10px;font-size:.9rem;color:#333}"
  ].join("");

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }

  function post(path, body) {
    return fetch(EMULATOR + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { var e = new Error(json.error_message); e.plaid = json; throw e; }
        return json;
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function create(config) {
    config = config || {};
    var token = config.token;
    var linkSessionId = uuid();
    var overlay = null, lastFocus = null, lastError = null, institution = null, done = false;
    var sessionInfo = null, destroyed = false;
    var noop = function () {};
    var onSuccess = config.onSuccess || noop, onExit = config.onExit || noop;
    var onEvent = config.onEvent || noop;

    function event(name, extra) {
      var meta = {
        link_session_id: linkSessionId, request_id: null, timestamp: new Date().toISOString(),
        view_name: null, institution_id: institution ? institution.institution_id : null,
        institution_name: institution ? institution.name : null, error_code: null,
        error_message: null, error_type: null, exit_status: null, mfa_type: null
      };
      Object.keys(extra || {}).forEach(function (k) { meta[k] = extra[k]; });
      try { onEvent(name, meta); } catch (e) { setTimeout(function () { throw e; }); }
    }

    function close() {
      document.removeEventListener("keydown", onKey, true);
      if (overlay && overlay.parentNode) overlay.parentNode.removeChild(overlay);
      overlay = null;
      if (lastFocus && lastFocus.focus) { try { lastFocus.focus(); } catch (e) { /* gone */ } }
    }

    function byId(id) { return overlay ? overlay.querySelector("#" + id) : null; }

    function setStatus(text) { var s = byId("plaid-standin-status"); if (s) s.textContent = text; }

    function showError(error) {
      lastError = error;
      var box = byId("plaid-standin-error");
      if (box) {
        box.textContent = error.display_message || error.error_message || "Something went wrong.";
        box.hidden = false;
      }
      event("ERROR", { error_code: error.error_code, error_message: error.error_message,
        error_type: error.error_type, request_id: error.request_id || null });
    }

    function finishExit() {
      if (done) return;
      done = true;
      close();
      var status = lastError ? "requires_credentials" : "choose_institution";
      event("EXIT", { exit_status: status });
      var err = lastError ? { error_type: lastError.error_type, error_code: lastError.error_code,
        error_message: lastError.error_message, display_message: lastError.display_message } : null;
      onExit(err, {
        institution: institution ? { name: institution.name,
          institution_id: institution.institution_id } : null,
        status: status, link_session_id: linkSessionId,
        request_id: lastError ? lastError.request_id || null : null
      });
    }

    function succeed(result) {
      if (done) return;
      done = true;
      setStatus("Connected.");
      event("HANDOFF", {});
      close();
      onSuccess(result.public_token, result.metadata);
    }

    function onKey(e) {
      if (!overlay) return;
      if (e.key === "Escape") { e.preventDefault(); finishExit(); return; }
      if (e.key === "Tab") {
        var f = Array.prototype.slice.call(overlay.querySelectorAll(
          "select,input,button")).filter(function (n) { return !n.disabled; });
        if (!f.length) return;
        var first = f[0], last = f[f.length - 1];
        if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
        else if (!e.shiftKey && document.activeElement === last) {
          e.preventDefault(); first.focus();
        }
      }
    }

    function build(title, intro) {
      if (!document.getElementById(STYLE_ID)) {
        var style = el("style", { id: STYLE_ID });
        style.textContent = CSS;
        document.head.appendChild(style);
      }
      lastFocus = document.activeElement;
      overlay = el("div", { id: "plaid-standin-overlay" });
      var dialog = el("div", { id: "plaid-standin-dialog", role: "dialog", "aria-modal": "true",
        "aria-labelledby": "plaid-standin-title", "aria-describedby": "plaid-standin-intro" });
      dialog.appendChild(el("h2", { id: "plaid-standin-title" }, title));
      dialog.appendChild(el("p", { id: "plaid-standin-intro" }, intro));
      overlay.appendChild(dialog);
      document.body.appendChild(overlay);
      document.addEventListener("keydown", onKey, true);
      return dialog;
    }

    function busy(flag) {
      ["plaid-standin-continue", "plaid-standin-institution", "plaid-standin-username",
        "plaid-standin-password"].forEach(function (id) {
        var n = byId(id); if (n) n.disabled = flag;
      });
    }

    function submit(form) {
      var select = byId("plaid-standin-institution");
      var chosen = sessionInfo.institutions.filter(function (i) {
        return i.institution_id === select.value;
      })[0];
      institution = chosen;
      var err = byId("plaid-standin-error");
      err.hidden = true; err.textContent = "";
      busy(true);
      setStatus("Connecting to " + chosen.name + "…");
      event("SUBMIT_CREDENTIALS", { view_name: "CREDENTIAL" });
      post("/link/_standin/complete", {
        link_token: token, institution_id: chosen.institution_id,
        username: byId("plaid-standin-username").value,
        password: byId("plaid-standin-password").value, link_session_id: linkSessionId
      }).then(function (result) {
        if (result.oauth_redirect_uri) {
          event("OPEN_OAUTH", { view_name: "OAUTH" });
          setStatus("Redirecting to " + chosen.name + "…");
          window.location.assign(result.oauth_redirect_uri);
          return;
        }
        succeed(result);
      }).catch(function (e) {
        busy(false);
        setStatus("");
        showError(e.plaid || { error_type: "API_ERROR", error_code: "INTERNAL_SERVER_ERROR",
          error_message: String(e.message || e), display_message: "Cannot reach the emulator." });
        var first = byId("plaid-standin-password"); if (first) first.focus();
      });
      return form;
    }

    function showLogin(info) {
      sessionInfo = info;
      var dialog = build(info.update_mode ? "Reconnect your bank" : "Connect your bank",
        "Plaid Sandbox emulator (offline): no real bank is contacted.");
      // the link token's language (real Link would speak it; the stand-in only names it)
      dialog.appendChild(el("p", { id: "plaid-standin-language" },
        "Link language: " + (info.language || "en")));
      var form = el("form", { id: "plaid-standin-form", novalidate: "novalidate" });
      form.appendChild(el("label", { "for": "plaid-standin-institution" }, "Bank"));
      var select = el("select", { id: "plaid-standin-institution", name: "institution" });
      info.institutions.forEach(function (i) {
        var option = el("option", { value: i.institution_id },
          i.name + (i.oauth ? " (OAuth)" : ""));
        select.appendChild(option);
      });
      select.addEventListener("change", function () {
        institution = info.institutions[select.selectedIndex];
        event("SELECT_INSTITUTION", { view_name: "SELECT_INSTITUTION" });
      });
      form.appendChild(select);
      form.appendChild(el("label", { "for": "plaid-standin-username" }, "Username"));
      var user = el("input", { id: "plaid-standin-username", name: "username", type: "text",
        autocomplete: "username", autocapitalize: "none", spellcheck: "false" });
      user.value = "user_good";
      form.appendChild(user);
      form.appendChild(el("label", { "for": "plaid-standin-password" }, "Password"));
      var pass = el("input", { id: "plaid-standin-password", name: "password", type: "password",
        autocomplete: "current-password" });
      pass.value = "pass_good";
      form.appendChild(pass);
      var error = el("div", { id: "plaid-standin-error", role: "alert" });
      error.hidden = true;
      form.appendChild(error);
      form.appendChild(el("div", { id: "plaid-standin-status", "aria-live": "polite" }));
      var actions = el("div", { "class": "plaid-standin-actions" });
      var exit = el("button", { id: "plaid-standin-exit", type: "button" }, "Exit");
      exit.addEventListener("click", finishExit);
      actions.appendChild(exit);
      actions.appendChild(el("button", { id: "plaid-standin-continue", type: "submit" },
        "Continue"));
      form.appendChild(actions);
      form.addEventListener("submit", function (e) { e.preventDefault(); submit(form); });
      dialog.appendChild(form);
      institution = info.institutions[0] || null;
      event("TRANSITION_VIEW", { view_name: "CREDENTIAL" });
      select.focus();
    }

    function showFailure(error) {
      var dialog = build("Cannot open Link", "The link token was not accepted.");
      var box = el("div", { id: "plaid-standin-error", role: "alert" });
      dialog.appendChild(box);
      dialog.appendChild(el("div", { id: "plaid-standin-status", "aria-live": "polite" }));
      var actions = el("div", { "class": "plaid-standin-actions" });
      var exit = el("button", { id: "plaid-standin-exit", type: "button" }, "Exit");
      exit.addEventListener("click", finishExit);
      actions.appendChild(exit);
      dialog.appendChild(actions);
      showError(error);
      exit.focus();
    }

    function finishOAuth() {
      var dialog = build("Finishing your connection", "Returning from your bank…");
      dialog.appendChild(el("div", { id: "plaid-standin-status", "aria-live": "polite" },
        "Finishing…"));
      post("/link/_standin/complete", { link_token: token,
        received_redirect_uri: config.receivedRedirectUri, link_session_id: linkSessionId })
        .then(function (result) {
          institution = result.metadata.institution;
          succeed(result);
        }).catch(function (e) {
          close();
          showFailure(e.plaid || { error_type: "API_ERROR", error_code: "INTERNAL_SERVER_ERROR",
            error_message: String(e.message || e), display_message: "Cannot reach the emulator." });
        });
    }

    return {
      open: function () {
        if (destroyed || overlay) return;
        done = false;
        lastError = null;
        event("OPEN", { view_name: null });
        if (config.receivedRedirectUri) { finishOAuth(); return; }
        post("/link/_standin/session", { link_token: token }).then(showLogin).catch(function (e) {
          showFailure(e.plaid || { error_type: "API_ERROR", error_code: "INTERNAL_SERVER_ERROR",
            error_message: String(e.message || e), display_message: "Cannot reach the emulator." });
        });
      },
      exit: function (options) {
        if (destroyed) return;
        if (overlay || (options && options.force)) finishExit();
      },
      destroy: function () {
        destroyed = true;
        done = true;
        close();
      },
      submit: function () { /* Plaid's embedded-search API; not emulated */ }
    };
  }

  window.Plaid = window.Plaid || {};
  window.Plaid.create = create;
  window.Plaid.version = "kore-plaid-emulator";
})();
