// The trainer's board: polls api/progress (with the page's session cookie) and draws the grid.
// Trainees' names and messages are untrusted: they only ever become text (textContent), never
// HTML. Every URL is relative, so the board works under a prefix (JupyterHub's proxy).
"use strict";

(() => {
  const POLL_MS = Number(document.body.dataset.pollMs) || 2500;
  const STUCK_AFTER = Number(document.body.dataset.stuckAfter) || 600;
  const WORDS = { pass: "Done", fail: "Failed", doing: "In progress", todo: "Not yet" };
  const SYMBOLS = { pass: "✓", fail: "✗", doing: "…", todo: "–" };

  const $ = (id) => document.getElementById(id);
  const table = $("board");
  const head = $("board-head");
  const rows = $("board-rows");
  const dialog = $("detail");
  let latest = null; // the last answer of api/progress
  let openKey = null; // [trainee, notebook] shown in the dialog
  let lastSuccess = null;

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function kind(nb) {
    if (nb.status === "pass") return "pass";
    if (nb.status === "fail") return "fail";
    return nb.at ? "doing" : "todo";
  }

  function clock(iso, seconds = false) {
    if (!iso) return "";
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return iso;
    const parts = { hour: "2-digit", minute: "2-digit" };
    if (seconds) parts.second = "2-digit";
    return when.toLocaleTimeString([], parts);
  }

  function ago(seconds) {
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    return `${(seconds / 3600).toFixed(1)} h ago`;
  }

  function duration(seconds) {
    return seconds % 60 === 0 && seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`;
  }

  function label(nb) {
    return `${nb.notebook.slice(0, 2)} ${nb.title || nb.notebook.slice(3)}`;
  }

  function headerCells(notebooks) {
    const cells = [el("th", "name-col", "Trainee")];
    for (const nb of notebooks) {
      const th = el(
        "th",
        "nb-col",
        el("span", "nb-num", nb.notebook.slice(0, 2)),
        el("span", "nb-title", nb.title || nb.notebook.slice(3)),
      );
      th.scope = "col";
      th.title = nb.notebook;
      cells.push(th);
    }
    cells[0].scope = "col";
    return cells;
  }

  function nameCell(trainee) {
    const th = el("th", "who", el("span", "name", trainee.name));
    th.scope = "row";
    const seen = trainee.finished ? "finished" : `last seen ${ago(trainee.idle_seconds)}`;
    th.append(el("span", "seen", `${seen} · ${clock(trainee.last_seen)}`));
    if (trainee.finished) {
      th.append(el("span", "all-done", `✓ All ${trainee.notebooks.length} notebooks done`));
    }
    if (trainee.stuck) {
      const why = el("span", "why", el("span", "why-tag", "Needs help"), " ", trainee.stuck_reason);
      why.title = trainee.stuck_reason;
      th.append(why);
    }
    return th;
  }

  function statusCell(trainee, nb) {
    const state = kind(nb);
    const parts = [
      el("span", "label", label(nb)),
      el("span", "sym", SYMBOLS[state]),
      el("span", "word", WORDS[state]),
    ];
    parts[1].setAttribute("aria-hidden", "true");
    const td = el("td", `cell ${state}`);
    if (state === "todo") {
      td.append(el("span", "state", ...parts));
      return td;
    }
    if (state === "fail") parts.push(el("span", "fix-hint", "see the fix"));
    const button = el("button", "state", ...parts);
    button.type = "button";
    button.setAttribute("aria-haspopup", "dialog");
    button.dataset.trainee = trainee.name;
    button.dataset.notebook = nb.notebook;
    button.title = nb.status === "fail" ? nb.message : `${WORDS[state]} · ${clock(nb.at)}`;
    td.append(button);
    return td;
  }

  function summary(trainees) {
    const stuck = trainees.filter((t) => t.stuck).length;
    const finished = trainees.filter((t) => t.finished).length;
    const parts = [`${trainees.length} trainee${trainees.length === 1 ? "" : "s"}`];
    parts.push(`${stuck} need${stuck === 1 ? "s" : ""} help`);
    parts.push(`${finished} finished`);
    if (!trainees.length) parts.splice(0, parts.length, "No trainees yet");
    const node = $("summary");
    node.classList.toggle("alert", stuck > 0);
    setText(node, parts.join(" · "));
  }

  function focusedKey() {
    const active = document.activeElement;
    if (!active || !active.dataset || !active.dataset.notebook) return null;
    return [active.dataset.trainee, active.dataset.notebook];
  }

  function findButton(key) {
    if (!key) return null;
    for (const button of rows.querySelectorAll("button.state")) {
      if (button.dataset.trainee === key[0] && button.dataset.notebook === key[1]) return button;
    }
    return null;
  }

  function render(data) {
    latest = data;
    const trainees = data.trainees || [];
    summary(trainees);
    $("empty").hidden = trainees.length > 0;
    table.hidden = trainees.length === 0;
    if (!trainees.length) {
      setText($("board-url"), location.origin + location.pathname.replace(/\/$/, ""));
      return;
    }
    const focused = focusedKey();
    head.replaceChildren(...headerCells(trainees[0].notebooks));
    rows.replaceChildren(
      ...trainees.map((trainee) => {
        const tr = el("tr", trainee.stuck ? "trainee stuck" : "trainee", nameCell(trainee));
        if (trainee.finished) tr.classList.add("finished");
        for (const nb of trainee.notebooks) tr.append(statusCell(trainee, nb));
        return tr;
      }),
    );
    const again = findButton(focused);
    if (again) again.focus();
    if (dialog.open && openKey) fillDetail(openKey);
  }

  function fillDetail(key) {
    const trainee = (latest.trainees || []).find((t) => t.name === key[0]);
    const nb = trainee && trainee.notebooks.find((n) => n.notebook === key[1]);
    if (!nb) return;
    const state = kind(nb);
    setText($("detail-title"), `${trainee.name} · ${label(nb)}`);
    const status = $("detail-status");
    status.className = `detail-status ${state}`;
    const when = nb.at ? ` · ${state === "doing" ? "last step at" : "at"} ${clock(nb.at)}` : "";
    setText(status, `${SYMBOLS[state]} ${WORDS[state]}${when}`);
    const failed = nb.status === "fail";
    $("detail-problem").hidden = !failed;
    $("detail-fix").hidden = !(failed && nb.fix);
    setText($("detail-message"), nb.problem || nb.message || "");
    setText($("detail-fix-text"), nb.fix || "");
    $("detail-steps").replaceChildren(
      ...(nb.steps || []).map((step) => {
        const stepKind = step.status === "pending" ? "todo" : step.status;
        const li = el(
          "li",
          `step ${stepKind}`,
          el("span", "sym", SYMBOLS[stepKind]),
          el("span", "step-name", step.label || step.step),
        );
        li.firstChild.setAttribute("aria-hidden", "true");
        li.append(el("span", "visually-hidden", ` ${WORDS[stepKind]}`));
        if (step.at) li.append(el("span", "step-at", clock(step.at)));
        if (step.status === "fail" && step.message) li.append(el("span", "step-msg", step.message));
        return li;
      }),
    );
  }

  function openDetail(key) {
    openKey = key;
    fillDetail(key);
    if (!dialog.open) dialog.showModal();
    $("detail-close").focus();
  }

  rows.addEventListener("click", (event) => {
    const button = event.target.closest("button.state");
    if (button) openDetail([button.dataset.trainee, button.dataset.notebook]);
  });
  $("detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  dialog.addEventListener("close", () => {
    const button = findButton(openKey);
    openKey = null;
    if (button) button.focus();
  });

  function showState(ok, text) {
    const updated = $("updated");
    updated.classList.toggle("offline", !ok);
    setText($("updated-text"), text);
  }

  async function refresh() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10000);
    try {
      const response = await fetch("api/progress", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: abort.signal,
      });
      if (response.status === 401) {
        location.reload(); // the session ended: the page shows the sign-in form
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
      lastSuccess = new Date();
      showState(true, `Live · updated ${clock(lastSuccess.toISOString(), true)}`);
    } catch (error) {
      const since = lastSuccess ? ` since ${clock(lastSuccess.toISOString(), true)}` : "";
      showState(false, `Not updating${since}: cannot reach the board, retrying…`);
    } finally {
      clearTimeout(timer);
    }
  }

  async function loop() {
    await refresh();
    setTimeout(loop, POLL_MS);
  }

  setText($("stuck-after"), duration(STUCK_AFTER));
  loop();
})();
