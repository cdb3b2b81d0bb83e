"""One tool's widgets: parameters (with their labels and hints) from the operation's spec, the picture input, Run
and Cancel, the status and result panels. Layout only; what the events do is ui/playground.py."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from pixelforge.operations import OPERATIONS, BoolParam, ChoiceParam, FloatParam, IntParam, Operation, TextParam
from ui import painter, result_view, status_view

HERE = Path(__file__).parent


@dataclass
class Tool:
    """The components of one tab, for wiring events."""

    operation: Operation
    body: gr.Column
    note: gr.HTML
    image: gr.components.Component  # gr.Image (a path) or the painter (gr.HTML)
    mask_file: gr.Image | None
    params: list = field(default_factory=list)
    run: gr.Button | None = None
    cancel: gr.Button | None = None
    status: gr.HTML | None = None
    result: gr.HTML | None = None
    use_row: gr.Row | None = None
    use_target: gr.Radio | None = None
    use_button: gr.Button | None = None

    @property
    def slug(self) -> str:
        return self.operation.name

    @property
    def inputs(self) -> list:
        return [self.image] + ([self.mask_file] if self.mask_file is not None else []) + self.params


def param_component(spec, slug: str):
    """The input widget for one catalogue parameter, with the API's default and range."""
    label, info = spec.label or spec.name, spec.hint or None
    elem_id = f"{slug}-{spec.name}"
    if isinstance(spec, IntParam) and spec.choices:
        return gr.Radio([(f"{c}x" if spec.name == "scale" else str(c), c) for c in spec.choices],
                        value=spec.default, label=label, info=info, elem_id=elem_id)
    if isinstance(spec, IntParam) and spec.optional:  # a Textbox, because a Number shows 0 when it is empty
        return gr.Textbox(value="", placeholder=spec.empty, label=label, info=info, max_lines=1, elem_id=elem_id)
    if isinstance(spec, IntParam):
        return gr.Slider(spec.low, spec.high, value=spec.default, step=1, label=label, info=info, elem_id=elem_id)
    if isinstance(spec, FloatParam):
        step = 0.5 if spec.high - spec.low > 10 else 0.05
        low = step if spec.low_exclusive else spec.low
        return gr.Slider(low, spec.high, value=spec.default, step=step, label=label, info=info, elem_id=elem_id)
    if isinstance(spec, ChoiceParam) and spec.optional:  # "automatic" leaves the choice to the server
        return gr.Radio([("automatic", "")], value="", label=label, info=info, elem_id=elem_id)  # filled on load
    if isinstance(spec, ChoiceParam):
        return gr.Radio(list(spec.choices), value=spec.default, label=label, info=info, elem_id=elem_id)
    if isinstance(spec, BoolParam):
        return gr.Checkbox(value=spec.default, label=label, info=info, elem_id=elem_id)
    if isinstance(spec, TextParam):
        return gr.Textbox(value=spec.default, label=label, info=info, lines=2, elem_id=elem_id)
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


def build_tool(operation: Operation) -> Tool:
    """Lay out one tab: what it does and costs, what will run, inputs and Run on the left, results on the right."""
    slug = operation.name
    gr.HTML(f"<p class='pf-summary'>{operation.summary} <em>{cost_note(operation)}.</em></p>")
    note = gr.HTML("", elem_id=f"{slug}-engine", elem_classes="pf-engine")
    with gr.Row(equal_height=False, elem_classes="pf-tool") as body:
        with gr.Column(scale=1, min_width=300, elem_classes="pf-controls"):
            mask_file = None
            if operation.needs_mask:
                image = painter.component(slug)
                with gr.Accordion("Or upload a mask file instead", open=False):
                    mask_file = gr.Image(label="Mask: white = change, black = keep; the picture's size",
                                         type="filepath", image_mode=None, sources=["upload"], height=160,
                                         elem_id=f"{slug}-mask-file")
            else:
                image = gr.Image(label="Picture", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                 elem_id=f"{slug}-image", height=320)
            tool = Tool(operation, body, note, image, mask_file,
                        [param_component(spec, slug) for spec in operation.params])
            with gr.Row(elem_classes="pf-run-row"):
                tool.run = gr.Button(f"Run {operation.title.lower()}", variant="primary",
                                     elem_id=f"{slug}-run", scale=3)
                tool.cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id=f"{slug}-cancel", scale=1)
        with gr.Column(scale=1, min_width=300, elem_classes="pf-results"):
            tool.status = gr.HTML(status_view.idle(), elem_id=f"{slug}-status", elem_classes="pf-status-block")
            tool.result = gr.HTML(result_view.empty(), elem_id=f"{slug}-result", apply_default_css=False,
                                  js_on_load=(HERE / "result.js").read_text(encoding="utf-8"))
            # Stacked, not side by side: beside the radio group the button overran the column at 1280 px.
            with gr.Column(visible=False, elem_classes="pf-use-row") as tool.use_row:
                others = [(other.title, other.name) for other in OPERATIONS.values() if other.name != slug]
                tool.use_target = gr.Radio(others, value=others[0][1], label="Use this result as the picture of",
                                           elem_id=f"{slug}-use-target")
                tool.use_button = gr.Button("Use as input", elem_id=f"{slug}-use", elem_classes="pf-use", size="md")
    return tool
