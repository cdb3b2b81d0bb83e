"""The playground: one tab per operation, its parameters and defaults taken from the API's catalogue."""
from __future__ import annotations

import html
import io
import shutil
import time
from pathlib import Path

import gradio as gr
from flask import Flask
from PIL import Image

from pixelforge.images import EXTENSIONS, decode_image
from pixelforge.operations import OPERATIONS, BoolParam, ChoiceParam, FloatParam, IntParam, Operation, TextParam
from ui import runner
from ui.public_errors import server_roots, without_server_paths
from ui.uploads import GONE_MESSAGE, UploadStore

TAB_TITLES = {"upscale": "Upscale", "remove-background": "Remove background", "restore-face": "Restore face",
              "enhance": "Enhance", "erase-object": "Erase object", "inpaint": "Inpaint"}
LABELS = {"scale": "Scale", "format": "Output format", "fidelity": "Fidelity", "prompt": "Prompt",
          "steps": "Steps", "cfg_scale": "CFG scale", "strength": "Strength", "seed": "Seed",
          "model": "Background model", "alpha_matting": "Alpha matting"}
HINTS = {"fidelity": "Higher keeps more of the original face; lower restores more strongly.",
         "cfg_scale": "How closely the result follows the prompt.",
         "strength": "How much of the masked area is repainted (0–1].",
         "seed": "Leave empty for a random seed; set it to repeat a result.",
         "format": "PNG is lossless; WebP is smaller.",
         "model": "Automatic uses the best installed model.",
         "alpha_matting": "Finer edges for hair and fur (slower)."}
MASK_COLOUR = ("#ff2d55", 0.6)  # painted strokes show through; any painted pixel becomes white in the mask
DEFAULT_BRUSH = 32
RESULT_FILES_KEEP_SECONDS = 1800  # results (and their previews) stay downloadable this long


def param_component(spec):
    """The input widget for one catalogue parameter, with the API's default and range."""
    label, info = LABELS.get(spec.name, spec.name), HINTS.get(spec.name)
    if isinstance(spec, IntParam) and spec.choices:
        return gr.Radio([(f"{c}x" if spec.name == "scale" else str(c), c) for c in spec.choices],
                        value=spec.default, label=label, info=info)
    if isinstance(spec, IntParam) and spec.optional:  # a Textbox, because a Number shows 0 when it is empty
        return gr.Textbox(value="", placeholder="random", label=label, info=info, max_lines=1)
    if isinstance(spec, IntParam):
        return gr.Slider(spec.low, spec.high, value=spec.default, step=1, label=label, info=info)
    if isinstance(spec, FloatParam):
        step = 0.5 if spec.high - spec.low > 10 else 0.05
        low = step if spec.low_exclusive else spec.low
        return gr.Slider(low, spec.high, value=spec.default, step=step, label=label, info=info)
    if isinstance(spec, ChoiceParam) and spec.optional:  # "automatic" leaves the choice to the server
        return gr.Radio([("automatic", ""), *((c, c) for c in spec.choices)], value="", label=label, info=info)
    if isinstance(spec, ChoiceParam):
        return gr.Radio(list(spec.choices), value=spec.default, label=label, info=info)
    if isinstance(spec, BoolParam):
        return gr.Checkbox(value=spec.default, label=label, info=info)
    if isinstance(spec, TextParam):
        return gr.Textbox(value=spec.default, label=label, info=info, lines=2)
    raise TypeError(f"no playground widget for {type(spec).__name__}")


def form_fields(operation: Operation, values) -> dict[str, str]:
    """Widget values as the API's form fields; an empty optional field is left out (its default applies)."""
    form = {}
    for spec, value in zip(operation.params, values):
        if value is None or (isinstance(value, str) and not value.strip() and not isinstance(spec, TextParam)):
            continue
        if isinstance(value, str):  # typed by the user: the API's validation judges it
            form[spec.name] = value.strip() if not isinstance(spec, TextParam) else value
        elif isinstance(spec, IntParam):
            form[spec.name] = str(int(round(float(value))))
        elif isinstance(spec, FloatParam):
            form[spec.name] = f"{float(value):g}"
        elif isinstance(spec, BoolParam):
            form[spec.name] = "true" if value else "false"
        else:
            form[spec.name] = str(value)
    return form


def user_error(title: str, message: str) -> gr.Error:
    """A message for the person at the browser; expected, so no traceback in the server's log."""
    return gr.Error(message, title=title, print_exception=False)


def cost_note(operation: Operation) -> str:
    defaults = {spec.name: spec.default for spec in operation.params}
    for spec in operation.params:
        if getattr(spec, "choices", None):
            costs = {choice: operation.cost({**defaults, spec.name: choice}) for choice in spec.choices}
            if len(set(costs.values())) > 1:
                label = (lambda c: f"{c}x") if spec.name == "scale" else str
                return ", ".join(f"{label(c)}: {n} credit{'s' * (n != 1)}" for c, n in costs.items())
    cost = operation.cost(defaults)
    return f"{cost} credit{'s' * (cost != 1)} per run"


class Playground:
    """The Blocks and its event handlers, bound to one Flask app."""

    def __init__(self, flask_app: Flask, results_dir: Path, uploads: UploadStore, concurrency: int = 8):
        self.flask_app = flask_app
        self.results_dir = results_dir
        self.uploads = uploads  # runs read only what the runner uploaded (the guard checks it first)
        self.roots = server_roots(flask_app, results_dir.parent)
        self.concurrency = concurrency  # runs mostly wait on the worker, so several may poll at once

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="PixelForge playground", analytics_enabled=False,
                       delete_cache=(600, RESULT_FILES_KEEP_SECONDS)) as blocks:
            with gr.Row(elem_classes="pf-header"):
                gr.Markdown("## PixelForge playground")
                account = gr.HTML(elem_id="pf-account", scale=2)
            for operation in OPERATIONS.values():
                with gr.Tab(TAB_TITLES.get(operation.name, operation.name), id=operation.name,
                            elem_id=f"tab-{operation.name}"):
                    run_event = self._tab(operation)
                run_event.then(self.account_line, outputs=account, api_visibility="private",
                               show_progress="hidden")  # the new balance
            blocks.load(self.account_line, outputs=account, api_visibility="private", show_progress="hidden")
        return blocks

    def _tab(self, operation: Operation):
        slug = operation.name
        gr.Markdown(f"{operation.summary} *{cost_note(operation)}.*")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                mask_file = None
                if operation.needs_mask:
                    image = gr.ImageMask(label="Image: upload, then paint over what to change", type="pil",
                                         image_mode="RGBA", format="png", sources=("upload", "clipboard"),
                                         transforms=(), layers=False, elem_id=f"{slug}-editor",
                                         brush=gr.Brush(default_size=DEFAULT_BRUSH, colors=[MASK_COLOUR],
                                                        color_mode="fixed"))
                    with gr.Row():
                        brush = gr.Slider(2, 200, value=DEFAULT_BRUSH, step=1, label="Brush size",
                                          elem_id=f"{slug}-brush", scale=3)
                        clear = gr.Button("Clear mask", elem_id=f"{slug}-clear", scale=1)
                    with gr.Accordion("Or upload a mask file instead", open=False):
                        mask_file = gr.Image(label="Mask: white = change, black = keep; the image's size",
                                             type="filepath", image_mode=None, sources=["upload"], height=160,
                                             elem_id=f"{slug}-mask-file")
                    brush.release(self.set_brush, brush, image, api_visibility="private")
                    clear.click(self.clear_mask, image, image, api_visibility="private")
                else:
                    image = gr.Image(label="Image", type="filepath", image_mode=None,
                                     sources=["upload", "clipboard"], elem_id=f"{slug}-image")
                params = [param_component(spec) for spec in operation.params]
                run = gr.Button(f"Run {TAB_TITLES.get(slug, slug).lower()}", variant="primary", elem_id=f"{slug}-run")
            with gr.Column(scale=1):
                status = gr.Markdown("Upload an image and press run.", elem_id=f"{slug}-status")
                compare = gr.ImageSlider(label="Before / after", type="pil", format="png", interactive=False,
                                         elem_id=f"{slug}-result")
                download = gr.DownloadButton("Download result", visible=False, elem_id=f"{slug}-download")
        inputs = [image] + ([mask_file] if mask_file is not None else []) + params
        return run.click(self._handler(operation), inputs, [status, compare, download], api_visibility="private",
                         concurrency_id="runs", concurrency_limit=self.concurrency)

    # --- event handlers -------------------------------------------------------------------------------

    def account_line(self, request: gr.Request) -> str:
        from pixelforge.extensions import db
        from pixelforge.models import User

        with self.flask_app.app_context():
            user = db.session.get(User, int(request.username))
            if user is None:
                return ""
            return (f"Signed in as <strong>{html.escape(user.email)}</strong> · {html.escape(user.plan)} plan · "
                    f"<strong>{user.credits}</strong> credits · <a href=\"/dashboard\">Dashboard</a> · "
                    "<a href=\"/dashboard/jobs\">Jobs</a>")

    @staticmethod
    def set_brush(size: float):
        return gr.update(brush=gr.Brush(default_size=int(size), colors=[MASK_COLOUR], color_mode="fixed"))

    @staticmethod
    def clear_mask(value):
        if not value or value.get("background") is None:
            return None
        return {"background": value["background"], "layers": [], "composite": value["background"]}

    def _handler(self, operation: Operation):
        def run(request: gr.Request, image, *rest):
            mask_file = rest[0] if operation.needs_mask else None
            values = rest[1:] if operation.needs_mask else rest
            yield from self.run(operation, request, image, mask_file, values)

        run.__name__ = f"run_{operation.name.replace('-', '_')}"
        return run

    def run(self, operation: Operation, request: gr.Request, image, mask_file, values):
        """Submit like the API does, then show progress until the job is final."""
        user_id = int(request.username)
        before, image_bytes, mask_bytes = self._inputs(operation, user_id, image, mask_file)
        try:
            job = runner.submit(self.flask_app, user_id, operation.name, form_fields(operation, values),
                                image_bytes, mask_bytes)
            yield self._progress(job), None, gr.update(visible=False, value=None)
            for job in runner.follow(self.flask_app, user_id, job.id, operation.name):
                if not job.final:
                    yield self._progress(job), gr.skip(), gr.skip()
        except runner.RunFailed as exc:
            # The toast shows the message, not always the title: the status goes in the message too.
            message = html.escape(self.public(exc.message))
            raise user_error(exc.title, f"{exc.title} ({exc.status}): {message}") from None
        if job.status != "done" or job.result is None:
            reason = html.escape(self.public(job.error or "no result"))
            raise user_error("Job failed", f"The job {job.status}: {reason}. "
                                           f"Its {job.credits} credit(s) were refunded.")
        before = before or decode_image(image_bytes)  # as the worker saw it (EXIF orientation applied)
        after = Image.open(io.BytesIO(job.result))
        if before.size != after.size:  # e.g. an upscale: compare at the result's size
            before = before.resize(after.size, Image.Resampling.BICUBIC)
        yield (self._done(job), (before, after),
               gr.update(value=str(self._result_file(job)), visible=True))

    def public(self, message: str) -> str:
        """A message fit for the browser: no server paths."""
        return without_server_paths(message, self.roots)

    def _uploaded(self, user_id: int, path) -> bytes:
        """The bytes of a file this user uploaded; nothing else is ever read for a run."""
        owned = self.uploads.owned(user_id, path) if isinstance(path, str) else None
        if owned is None:
            raise user_error("Upload again", GONE_MESSAGE)
        return owned.read_bytes()

    def _inputs(self, operation: Operation, user_id: int, image, mask_file):
        """(before picture, image bytes, mask bytes) from the widgets; the API's validation judges them."""
        if operation.needs_mask:
            if not image or image.get("background") is None:
                raise user_error("No image", "Upload an image first.")
            background = image["background"]
            image_bytes = runner.png_bytes(background)
            if mask_file:
                mask_bytes = self._uploaded(user_id, mask_file)
            else:
                mask_bytes = runner.mask_from_layers(image.get("layers") or [], background.size)
                if mask_bytes is None:
                    raise user_error("No mask", "Paint over the area to change, or upload a mask file.")
            return background, image_bytes, mask_bytes
        if not image:
            raise user_error("No image", "Upload an image first.")
        return None, self._uploaded(user_id, image), None  # decoded for the comparison only once validated

    @staticmethod
    def _progress(job: runner.JobView) -> str:
        if job.status == "queued":
            return f"**Queued** · job `{job.id[:8]}` · {job.credits} credit(s) reserved"
        return f"**Processing** · {int(job.progress * 100)}% · job `{job.id[:8]}`"

    @staticmethod
    def _done(job: runner.JobView) -> str:
        return (f"**Done** with the **{job.engine or 'default'}** engine · {job.credits} credit(s) charged · "
                f"balance **{job.balance}** · [open job {job.id[:8]}](/dashboard/jobs/{job.id})")

    def _result_file(self, job: runner.JobView) -> Path:
        """The result as a named file for the download button (Gradio copies it into its cache)."""
        self._prune_results()
        folder = self.results_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"pixelforge-{job.id}.{EXTENSIONS.get(job.result_type, 'png')}"
        path.write_bytes(job.result)
        return path

    def _prune_results(self) -> None:
        cutoff = time.time() - RESULT_FILES_KEEP_SECONDS
        for folder in self.results_dir.glob("*"):
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue
