// Keyboard use of the tool tabs: arrow keys, Home and End move between them (the WAI-ARIA tabs pattern); and of
// radio groups, whose inputs Gradio names one by one (so the browser's own arrow keys do nothing).
const STEPS = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1};

document.addEventListener("keydown", (event) => {
  const radio = event.target.matches && event.target.matches("input[type=radio]") ? event.target : null;
  const group = radio ? Array.from(radio.closest("fieldset, .block").querySelectorAll("input[type=radio]")) : [];
  if (radio && STEPS[event.key] && group.some((other) => other.name !== radio.name)) {
    const next = group[(group.indexOf(radio) + STEPS[event.key] + group.length) % group.length];
    event.preventDefault();
    next.focus();
    next.click();
    return;
  }
  const tab = event.target.closest && event.target.closest("#pf-tools [role=tab]");
  if (!tab) return;
  const tabs = Array.from(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
  const index = tabs.indexOf(tab);
  const next = {ArrowRight: index + 1, ArrowDown: index + 1, ArrowLeft: index - 1, ArrowUp: index - 1,
                Home: 0, End: tabs.length - 1}[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const target = tabs[(next + tabs.length) % tabs.length];
  target.focus();
  target.click();
});

// A picture the upload route refuses (not an image, too large, too many pixels) is said in the tool's status panel,
// where every other refusal stays, instead of in Gradio's "HTTP 422: …" pop-up, which covered that panel and then
// went. The next accepted picture clears it.
const pageFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const response = await pageFetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input), location.href);  // a string or a URL
  if (url.pathname.endsWith("/gradio_api/upload")) {
    showUploadOutcome(response.ok ? null : await response.clone().text());
  }
  return response;
};

function showUploadOutcome(refusal) {
  const block = Array.from(document.querySelectorAll(".pf-status-block")).find((element) => element.offsetParent);
  const current = block && block.querySelector(".pf-status");
  if (!current) return;
  if (refusal === null) {
    if (current.dataset.state === "upload-refused") {
      current.replaceWith(panel("idle", "status", "", "Press Run when ready."));
    }
    return;
  }
  const reason = refusal.trim();
  current.replaceWith(panel("error", "alert", "Picture not accepted.",
    reason ? reason[0].toUpperCase() + reason.slice(1) : "Choose a PNG, JPEG or WebP picture.", "upload-refused"));
  if (reason) closePopUpSaying(reason);
}

function closePopUpSaying(text, deadline = Date.now() + 3000) {
  const popUp = Array.from(document.querySelectorAll(".toast-body")).find((toast) => toast.textContent.includes(text));
  const close = popUp && popUp.querySelector(".toast-close");
  if (close) close.click();
  else if (Date.now() < deadline) setTimeout(() => closePopUpSaying(text, deadline), 100);
}

function panel(kind, role, title, text, state) {
  const box = document.createElement("div");
  box.className = `pf-status pf-status-${kind}`;
  box.setAttribute("role", role);
  box.dataset.state = state || kind;
  const line = document.createElement("p");
  if (title) {
    const strong = document.createElement("strong");
    strong.textContent = title;
    line.append(strong, " ");
  }
  line.append(text);
  box.append(line);
  return box;
}
