// The Kore profile's Copy buttons (notebook 05's output: button.kore-plaid-copy, hidden until
// a script can serve them) and its cells' column names (data-label, for the phone layout).
// The clipboard API needs https or localhost; elsewhere a selection copy is tried, and the
// button says "Select it" when neither works.
(function () {
  "use strict";

  function copyBySelection(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied;
  }

  function copy(button) {
    const text = button.dataset.copy || "";
    const copied = () => {
      button.textContent = "Copied";
    };
    const fallBack = () => {
      button.textContent = copyBySelection(text) ? "Copied" : "Select it";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(copied, fallBack);
    } else {
      fallBack();
    }
  }

  // Each profile cell names its column, for the phone layout that stacks a row's cells.
  for (const table of document.querySelectorAll("table.kore-plaid-profile")) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.cells].forEach((cell, index) => (cell.dataset.label = names[index] || ""));
    }
  }

  for (const button of document.querySelectorAll("button.kore-plaid-copy")) {
    button.removeAttribute("onclick");
    button.hidden = false;
    button.addEventListener("click", () => copy(button));
  }
})();
