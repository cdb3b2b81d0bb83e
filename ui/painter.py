"""The mask painter of the tools that need a mask: a gr.HTML whose value is
{"image": {"path", "url", …}, "strokes": […]}.

Gradio's ImageEditor cleared its mask through the server and lost later strokes, and uploaded its layers on every
stroke; here strokes stay in the browser (ui/painter.js) and travel with the run as numbers, and the picture is
one upload through the guarded route. The run turns strokes into a mask (runner.mask_from_strokes).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import gradio as gr

HERE = Path(__file__).parent
DEFAULT_BRUSH = 32
ACCEPT = "image/png,image/jpeg,image/webp"


def template(slug: str) -> str:
    """The painter's HTML (no ${…}: gr.HTML renders templates as JavaScript template strings)."""
    return f"""<div class="pf-painter" data-state="empty" data-strokes="0">
<div class="pf-drop">
  <p>Drop a picture here, or</p>
  <label class="pf-pick">Choose a picture<input class="pf-file" type="file" id="{slug}-file"
    accept="{ACCEPT}"></label>
  <p class="pf-hint">PNG, JPEG or WebP; then paint over what to change.</p>
</div>
<div class="pf-stage"><canvas class="pf-canvas" role="img"
  aria-label="Your picture: paint over what to change"></canvas></div>
<div class="pf-tools">
  <label class="pf-brush-label">Brush <input class="pf-brush" type="range" min="2" max="200"
    value="{DEFAULT_BRUSH}"> <span class="pf-brush-value">{DEFAULT_BRUSH}</span> px</label>
  <button type="button" class="pf-undo">Undo stroke</button>
  <button type="button" class="pf-clear" id="{slug}-clear">Clear mask</button>
  <label class="pf-pick pf-replace">Another picture<input class="pf-file-again" type="file"
    accept="{ACCEPT}"></label>
</div>
<p class="pf-painter-status" role="status" aria-live="polite"></p>
</div>"""


def component(slug: str) -> gr.HTML:
    script = (HERE / "painter.js").read_text(encoding="utf-8")
    again = ('root.querySelector(".pf-file-again").addEventListener("change", (event) => {'
             ' take(event.target.files[0]); event.target.value = ""; });')
    return gr.HTML(value=None, html_template=template(slug), js_on_load=script + "\n" + again,
                   elem_id=f"{slug}-editor", elem_classes="pf-painter-block", apply_default_css=False,
                   label="Picture and mask")


def value_for(path: Path, mount_path: str) -> dict:
    """The painter's value showing an upload (a result used as input), with no strokes yet."""
    return {"image": {"path": str(path), "url": f"{mount_path}/gradio_api/file={quote(str(path))}"}, "strokes": []}
