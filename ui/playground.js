// Keyboard use of the tool tabs: arrow keys, Home and End move between them (the WAI-ARIA tabs pattern).
document.addEventListener("keydown", (event) => {
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
