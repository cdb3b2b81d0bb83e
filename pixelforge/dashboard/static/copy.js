// Copy buttons: <button data-copy-target="ID"> copies the value of the input with that id.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copyTarget);
  const status = document.querySelector(".copy-status");
  let copied = false;
  try {
    await navigator.clipboard.writeText(input.value);
    copied = true;
  } catch (error) {
    input.select();  // no clipboard access (e.g. plain http on another host): select it for Ctrl+C
    copied = document.execCommand && document.execCommand("copy");
  }
  if (status) status.textContent = copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.";
  button.textContent = copied ? "Copied" : "Copy";
});
