// Copy buttons: <button data-copy-target="ID"> copies the text of the element with that id.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  const status = document.querySelector(".copy-status");
  let copied = false;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    copied = true;
  } catch (error) {
    // No clipboard access (e.g. plain http on another host): select the key so Ctrl+C copies it.
    window.getSelection().selectAllChildren(source);
  }
  if (status) status.textContent = copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.";
  button.textContent = copied ? "Copied" : "Copy";
});
