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
