"""The result panel: before/after over a checkerboard, fit or 1:1 with panning, the job's facts, and downloads.

Pictures come from the dashboard's owner-only routes: a screen-sized preview first (so a result shows as soon as
its job ends, however large it is), the full size on demand. The panel's behaviour is ui/result.js.
"""
from __future__ import annotations

import html
from datetime import timezone

from ui.runner import JobView

FORMATS = (("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WebP"))


def empty() -> str:
    return '<div class="pf-result pf-result-empty" data-state="empty"><p>The result appears here.</p></div>'


def facts(job: JobView) -> list[tuple[str, str]]:
    """(label, value) for the job: engine, output size, faces, seed, time."""
    info = job.info or {}
    rows = [("Engine", job.engine + (f" ({job.model})" if job.model else "") if job.engine else "—")]
    if info.get("width") and info.get("height"):
        rows.append(("Output size", f"{info['width']}×{info['height']} px"))
    if "faces_detected" in info:
        rows.append(("Faces found", str(info["faces_detected"])))
    if "faces_restored" in info:
        rows.append(("Faces restored", str(info["faces_restored"])))
    if "seed" in info:
        rows.append(("Seed", str(info["seed"])))
    if job.started_at and job.finished_at:
        rows.append(("Time", f"{(job.finished_at - job.started_at).total_seconds():.1f} s"))
    return rows


def panel(job: JobView) -> str:
    """The done job's panel (job ids are UUIDs: safe in URLs and attributes)."""
    base = f"/dashboard/jobs/{job.id}"
    info = job.info or {}
    size = f"{info.get('width')}×{info.get('height')}" if info.get("width") else ""
    rows = "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" for label, value in facts(job))
    downloads = " ".join(f'<a class="pf-download" href="{base}/result?download=1&amp;format={fmt}" download '
                         f'data-format="{fmt}">{label}</a>' for fmt, label in FORMATS)
    finished = f"{job.finished_at.replace(tzinfo=timezone.utc).timestamp():.3f}" if job.finished_at else ""
    return f"""<div class="pf-result" data-state="done" data-job="{job.id}" data-finished-at="{finished}">
<div class="pf-viewer" data-mode="fit" style="--split: 50%">
  <div class="pf-frame">
    <img class="pf-before" src="{base}/preview/input" alt="Before: the picture you sent">
    <img class="pf-after" src="{base}/preview/result" data-full="{base}/result"
      alt="After: the result{', ' + size + ' pixels' if size else ''}">
  </div>
</div>
<div class="pf-viewer-tools">
  <label class="pf-split-label">Before / after
    <input class="pf-split" type="range" min="0" max="100" value="50"></label>
  <button type="button" class="pf-zoom" aria-pressed="false">1:1 (full size)</button>
  <a href="{base}/result" target="_blank" rel="noopener">Open full size</a>
</div>
<dl class="pf-facts">{rows}</dl>
<p class="pf-downloads">Download: {downloads}</p>
</div>"""
