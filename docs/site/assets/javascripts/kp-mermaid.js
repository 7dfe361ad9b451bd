// Draws the site's Mermaid diagrams with the copy of mermaid the site serves itself
// (tools/build_docs.py turns each ```mermaid block into div.kp-mermaid > pre.kp-mermaid-source).
// mermaid.min.js (5.7 MB, next to this script) is loaded only on a page that has a diagram.
// The SVG lands in div.kp-mermaid, which then carries data-rendered="true" ("error" on failure).
(function () {
  "use strict";
  const mermaidUrl = new URL("mermaid.min.js", document.currentScript.src).href;
  let loading = null;
  let drawn = 0;

  function loadMermaid() {
    if (loading === null) {
      loading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = mermaidUrl;
        script.onload = () => (typeof mermaid === "undefined" ? reject() : resolve());
        script.onerror = () => reject();
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function mermaidTheme() {
    return document.body.getAttribute("data-md-color-scheme") === "slate" ? "dark" : "default";
  }

  async function draw(box) {
    const source = box.querySelector("pre.kp-mermaid-source");
    if (!source) {
      return;
    }
    try {
      drawn += 1;
      const { svg } = await mermaid.render("kp-mermaid-svg-" + drawn, source.textContent);
      box.querySelectorAll(":scope > svg").forEach((old) => old.remove());
      box.insertAdjacentHTML("beforeend", svg);
      source.hidden = true;
      box.dataset.rendered = "true";
    } catch (error) {
      source.hidden = false;
      box.dataset.rendered = "error";
      console.error("kore-plaid docs: a diagram could not be drawn:", error);
    }
  }

  async function drawAll() {
    const boxes = document.querySelectorAll("div.kp-mermaid");
    if (boxes.length === 0) {
      return;
    }
    try {
      await loadMermaid();
    } catch (error) {
      boxes.forEach((box) => (box.dataset.rendered = "error"));
      console.error("kore-plaid docs: " + mermaidUrl + " did not load");
      return;
    }
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: mermaidTheme() });
    for (const box of boxes) {
      await draw(box);
    }
  }

  // The reader's dark/light toggle changes the body's scheme: draw again in the new colours.
  new MutationObserver(drawAll).observe(document.body, {
    attributes: true,
    attributeFilter: ["data-md-color-scheme"],
  });
  drawAll();
})();
