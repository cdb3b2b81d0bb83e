// The result panel's behaviour (js_on_load of each tool's result gr.HTML; the panel's HTML is ui/result_view.py).
// Events are delegated to `element`, so they keep working when the server replaces the panel's HTML.
element.addEventListener("load", (event) => {
  const img = event.target;
  if (img.classList && img.classList.contains("pf-after") && !img.dataset.shownAt) {
    img.dataset.shownAt = String(Date.now());  // when the result became visible (browser tests read it)
    const box = img.getBoundingClientRect();
    if (box.top + box.height / 2 > window.innerHeight || box.bottom < 0) {  // below the controls (a phone)
      const column = element.closest(".pf-results") || element;
      column.scrollIntoView({block: "start"});
    }
  }
}, true);

element.addEventListener("input", (event) => {
  if (!event.target.classList.contains("pf-split")) return;
  const viewer = element.querySelector(".pf-viewer");
  if (viewer) viewer.style.setProperty("--split", event.target.value + "%");
});

element.addEventListener("click", (event) => {
  const button = event.target.closest(".pf-zoom");
  if (!button) return;
  const viewer = element.querySelector(".pf-viewer");
  const after = element.querySelector(".pf-after");
  if (!viewer || !after) return;
  const actual = viewer.dataset.mode !== "actual";
  viewer.dataset.mode = actual ? "actual" : "fit";
  button.setAttribute("aria-pressed", String(actual));
  button.textContent = actual ? "Fit to the panel" : "1:1 (full size)";
  viewer.tabIndex = actual ? 0 : -1;  // arrow keys pan a focused 1:1 view
  const split = element.querySelector(".pf-split");
  if (split) split.disabled = actual;  // at 1:1 only the result shows
  if (actual && after.dataset.full && after.getAttribute("src") !== after.dataset.full) {
    after.setAttribute("src", after.dataset.full);  // the full size, fetched only when asked for
  }
});

// Drag to pan at 1:1.
let drag = null;
element.addEventListener("pointerdown", (event) => {
  const viewer = event.target.closest(".pf-viewer");
  if (!viewer || viewer.dataset.mode !== "actual") return;
  drag = {viewer, x: event.clientX, y: event.clientY, left: viewer.scrollLeft, top: viewer.scrollTop};
  viewer.setPointerCapture(event.pointerId);
  event.preventDefault();
});
element.addEventListener("pointermove", (event) => {
  if (!drag) return;
  drag.viewer.scrollLeft = drag.left - (event.clientX - drag.x);
  drag.viewer.scrollTop = drag.top - (event.clientY - drag.y);
});
element.addEventListener("pointerup", () => { drag = null; });
element.addEventListener("pointercancel", () => { drag = null; });
