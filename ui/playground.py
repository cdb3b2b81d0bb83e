"""The playground: one tab per operation (ui/widgets.py lays each out), and what its events do: say what will run,
run through the API's path with honest progress and Cancel, show the result, and hand it to the next tool."""
from __future__ import annotations

import html
import threading
from pathlib import Path

import gradio as gr
from flask import Flask

from pixelforge.operations import OPERATIONS, Operation
from ui import PATH, painter, result_view, runner, status_view
from ui.public_errors import server_roots, without_server_paths
from ui.uploads import GONE_MESSAGE, UploadRefused, UploadStore
from ui.widgets import Tool, build_tool, form_fields

RESULT_FILES_KEEP_SECONDS = 1800  # files the playground hands out stay readable by their owner this long
REMEMBERED_RESULTS = 20_000  # (session, tool) → last result, for "use as input"; the oldest are forgotten
SCROLL_TO_STATUS = """(...inputs) => {
  const slug = document.querySelector('[role=tab][aria-selected=true]')?.dataset.tabId;
  document.getElementById(slug + '-status')?.scrollIntoView({block: 'start'});
  return inputs;
}"""


class Playground:
    """The Blocks and its event handlers, bound to one Flask app."""

    def __init__(self, flask_app: Flask, results_dir: Path, uploads: UploadStore, concurrency: int = 8):
        self.flask_app = flask_app
        self.results_dir = results_dir
        self.uploads = uploads  # runs read only what the user uploaded (the guard checks it first)
        self.roots = server_roots(flask_app, results_dir.parent)
        self.concurrency = concurrency  # runs mostly wait on the worker, so several may poll at once
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], str] = {}  # (session, tool) → the job its run follows
        self._finished: dict[tuple[str, str], str] = {}  # (session, tool) → its last job with a result
        self.tools: dict[str, Tool] = {}

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="PixelForge playground", analytics_enabled=False,
                       delete_cache=(600, RESULT_FILES_KEEP_SECONDS)) as blocks:
            with gr.Row(elem_classes="pf-header"):
                gr.HTML("<h1>PixelForge playground</h1>", js_on_load=None)
                account = gr.HTML(elem_id="pf-account", js_on_load=None)
            with gr.Tabs(overflow_behavior="wrap", elem_id="pf-tools") as tabs:
                for operation in OPERATIONS.values():
                    with gr.Tab(operation.title, id=operation.name,
                                elem_id=f"tab-{operation.name}"):
                        self.tools[operation.name] = tool = build_tool(operation)
                    self._wire(tool, account)
            for tool in self.tools.values():
                self._wire_use_as_input(tool, tabs)
            notes = [tool.note for tool in self.tools.values()]
            bodies = [tool.body for tool in self.tools.values()]
            choices = [self._param(slug, tool.operation.model.choice_param) for slug, tool in self._model_choosers()]
            blocks.load(self.on_load, outputs=[account, *notes, *bodies, *choices],
                        api_visibility="private", show_progress="hidden")
        return blocks

    def _model_choosers(self) -> list[tuple[str, Tool]]:
        """The tools with a parameter that names a model (a background model, say): it offers the installed ones."""
        return [(slug, tool) for slug, tool in self.tools.items()
                if tool.operation.model and tool.operation.model.choice_param]

    def _param(self, slug: str, name: str):
        tool = self.tools[slug]
        return next(c for spec, c in zip(tool.operation.params, tool.params) if spec.name == name)

    def _wire(self, tool: Tool, account) -> None:
        run = tool.run.click(self._run_handler(tool.operation), tool.inputs,
                             [tool.status, tool.result, tool.cancel, tool.use_row], js=SCROLL_TO_STATUS,
                             api_visibility="private", show_progress="hidden", concurrency_id="runs",
                             concurrency_limit=self.concurrency)
        run.then(self.account_line, outputs=account, api_visibility="private", show_progress="hidden")
        tool.cancel.click(self._cancel_handler(tool.slug), outputs=[tool.status, tool.cancel],
                          api_visibility="private", show_progress="hidden")
        for spec, component in zip(tool.operation.params, tool.params):
            if getattr(spec, "choices", None):  # a choice can change the engine (a scale, a model)
                component.change(self._note_handler(tool), tool.params, tool.note, api_visibility="private",
                                 show_progress="hidden")

    def _wire_use_as_input(self, tool: Tool, tabs) -> None:
        targets = [other.image for other in self.tools.values()]
        statuses = [other.status for other in self.tools.values()]
        tool.use_button.click(self._use_handler(tool.slug), tool.use_target, [tabs, *targets, *statuses],
                              api_visibility="private", show_progress="hidden")

    # --- what will run ----------------------------------------------------------------------------------

    def on_load(self, request: gr.Request):
        """The account line, each tool's engine note (a tool that cannot run hides its inputs), and the models the
        live workers have, for each tool that lets one be chosen."""
        from pixelforge.dashboard.engines import engine_note, installed_model_choices, live_workers

        with self.flask_app.app_context():
            workers = live_workers()
            notes = {slug: engine_note(slug, self._defaults(tool.operation), workers)
                     for slug, tool in self.tools.items()}
            offered = [installed_model_choices(slug, workers) for slug, _ in self._model_choosers()]
        outputs = [self.account_line(request)]
        outputs += [self._note_html(note) for note in notes.values()]
        outputs += [gr.update(visible=note.available) for note in notes.values()]
        outputs += [gr.update(choices=[("automatic", ""), *((m, m) for m in models)], value="") for models in offered]
        return outputs

    @staticmethod
    def _defaults(operation: Operation) -> dict:
        return {spec.name: spec.default for spec in operation.params}

    @staticmethod
    def _note_html(note) -> str:
        kind = "available" if note.available else "unavailable"
        return f'<p class="pf-engine-note pf-engine-{kind}" data-engine="{note.engine}">{note.html}</p>'

    def _note_handler(self, tool: Tool):
        def refresh(*values):
            from pixelforge.dashboard.engines import engine_note, live_workers

            params = {**self._defaults(tool.operation), **form_fields(tool.operation, values)}
            if "scale" in params:
                params["scale"] = int(params["scale"])
            with self.flask_app.app_context():
                return self._note_html(engine_note(tool.slug, params, live_workers()))
        return refresh

    def account_line(self, request: gr.Request) -> str:
        from pixelforge.extensions import db
        from pixelforge.models import User

        with self.flask_app.app_context():
            user = db.session.get(User, int(request.username))
            if user is None:
                return ""
            # Two lines, the account, then its pages: as one line it wrapped wherever the email's length left it
            # (once with "Credits" alone on the second line).
            credits = "credit" if user.credits == 1 else "credits"
            return (f"<p>Signed in as <strong>{html.escape(user.email)}</strong> · {html.escape(user.plan)} plan · "
                    f"<strong data-testid='balance'>{user.credits}</strong> {credits}</p>"
                    "<p><a href=\"/dashboard\">Dashboard</a> · <a href=\"/dashboard/jobs\">Jobs</a> · "
                    "<a href=\"/dashboard/credits\">Credits</a></p>")

    # --- runs ---------------------------------------------------------------------------------------------

    def _run_handler(self, operation: Operation):
        def run(request: gr.Request, image, *rest):
            mask_file = rest[0] if operation.needs_mask else None
            values = rest[1:] if operation.needs_mask else rest
            yield from self.run(operation, request, image, mask_file, values)
        return run

    def run(self, operation: Operation, request: gr.Request, image, mask_file, values):
        """Yield (status, result, cancel button, use-as-input row) as the run goes; never a stale result."""
        from pixelforge.models import utcnow

        key = (request.session_hash or "", operation.name)
        hidden, shown = gr.update(visible=False), gr.update(visible=True)
        yield status_view.sending(), result_view.empty(), shown, hidden
        user_id = int(request.username)
        try:
            image_bytes, mask_bytes = self._inputs(operation, user_id, image, mask_file)
            job = runner.submit(self.flask_app, user_id, operation.name, form_fields(operation, values),
                                image_bytes, mask_bytes)
            with self._lock:
                self._running[key] = job.id
            shown_status = None
            for job in runner.follow(self.flask_app, user_id, job.id, operation.name):
                words = status_view.progress(job, utcnow())
                if not job.final and words != shown_status:
                    shown_status = words
                    yield words, gr.skip(), gr.skip(), gr.skip()
        except runner.RunFailed as exc:
            yield status_view.refused(exc, self.public(exc.message)), result_view.empty(), hidden, hidden
            return
        finally:
            with self._lock:
                self._running.pop(key, None)
        if job.status == "done":
            with self._lock:
                self._finished.pop(key, None)
                self._finished[key] = job.id  # newest last
                while len(self._finished) > REMEMBERED_RESULTS:
                    del self._finished[next(iter(self._finished))]
            yield status_view.done(job), result_view.panel(job), hidden, shown
        else:
            yield (status_view.ended_without_result(job, self.public(job.error or "")), result_view.empty(),
                   hidden, hidden)

    def _cancel_handler(self, slug: str):
        def cancel(request: gr.Request):
            with self._lock:
                job_id = self._running.get((request.session_hash or "", slug))
            if job_id is None:
                return gr.skip(), gr.skip()
            job = runner.cancel(self.flask_app, int(request.username), job_id)
            if job is not None and job.final:  # the run may show this before or after us: the same final page
                return status_view.ended_without_result(job, self.public(job.error or "")), gr.update(visible=False)
            return status_view.cancelling(), gr.skip()  # the run's next poll shows how it ended
        return cancel

    def public(self, message: str) -> str:
        """A message fit for the browser: no server paths."""
        return without_server_paths(message, self.roots)

    def _uploaded(self, user_id: int, path) -> bytes:
        """The bytes of a file this user uploaded; nothing else is ever read for a run."""
        owned = self.uploads.owned(user_id, path) if isinstance(path, str) else None
        if owned is None:
            raise runner.RunFailed(410, "Upload again", GONE_MESSAGE)
        return owned.read_bytes()

    def _inputs(self, operation: Operation, user_id: int, image, mask_file) -> tuple[bytes, bytes | None]:
        """(image bytes, mask bytes) from the widgets; the API's validation judges them."""
        if not operation.needs_mask:
            if not image:
                raise runner.RunFailed(422, "No picture", "Choose a picture first, then press Run.")
            return self._uploaded(user_id, image), None
        picture = image.get("image") if isinstance(image, dict) else None
        if not isinstance(picture, dict) or not picture.get("path"):
            raise runner.RunFailed(422, "No picture", "Choose a picture first, then paint over what to change.")
        image_bytes = self._uploaded(user_id, picture["path"])
        if mask_file:
            return image_bytes, self._uploaded(user_id, mask_file)
        mask = runner.mask_from_strokes(image.get("strokes"), self._size(image_bytes))
        if mask is None:
            raise runner.RunFailed(422, "No mask", "Paint over the area to change, or upload a mask file.")
        return image_bytes, mask

    def _size(self, image_bytes: bytes) -> tuple[int, int]:
        from pixelforge.images import read_header
        from pixelforge.operations import ValidationFailed

        try:
            return read_header(image_bytes, "image", self.uploads.rules.max_pixels).oriented_size
        except ValidationFailed as exc:
            raise runner.RunFailed(422, "Check your picture", exc.message) from None

    # --- a result as the next tool's input ------------------------------------------------------------

    def _use_handler(self, slug: str):
        def use(target: str, request: gr.Request):
            tools = list(self.tools.values())
            with self._lock:
                job_id = self._finished.get((request.session_hash or "", slug))
            if job_id is None or target not in self.tools:
                return [gr.skip()] * (1 + 2 * len(tools))
            user_id = int(request.username)
            try:
                path = self.uploads.save(user_id, runner.result_bytes(self.flask_app, user_id, job_id))
            except (UploadRefused, runner.RunFailed) as exc:
                failed = runner.RunFailed(413, "Cannot use this result here", getattr(exc, "message", str(exc)))
                words = status_view.refused(failed, self.public(failed.message) + " Download it instead.")
                return [gr.skip(), *[gr.skip()] * len(tools), *(words if t.slug == slug else gr.skip() for t in tools)]
            title = self.tools[slug].operation.title.lower()
            values = [self._input_value(t, path) if t.slug == target else gr.skip() for t in tools]
            statuses = [status_view.note(f"The {title} result is this tool's picture now: press Run.")
                        if t.slug == target else gr.skip() for t in tools]
            return [gr.Tabs(selected=target), *values, *statuses]
        return use

    @staticmethod
    def _input_value(tool: Tool, path: Path):
        return painter.value_for(path, PATH) if tool.operation.needs_mask else str(path)
