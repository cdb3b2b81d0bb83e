"""The Gradio playground, mounted into the served ASGI app. Importing this package imports no Gradio."""
from __future__ import annotations

import os
from pathlib import Path

PATH = "/playground"
PLAYGROUND_CSS = (".pf-header { align-items: center; } #pf-account { text-align: right; } "
                  "#pf-account a { display: inline; margin: 0; padding: 0; }")


def mount_playground(root, flask_app) -> None:
    """Mount the playground at /playground on root (a FastAPI app), behind the dashboard's sign-in."""
    temp_dir = Path(flask_app.config["PLAYGROUND_TEMP_DIR"] or Path(flask_app.instance_path) / "gradio")
    temp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)  # read by Gradio at import time
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import gradio as gr

    from ui.playground import Playground
    from ui.session import FlaskSessionReader, SignInRedirect

    reader = FlaskSessionReader(flask_app)
    playground = Playground(flask_app, temp_dir / "results",
                            concurrency=int(flask_app.config["PLAYGROUND_CONCURRENCY"]))
    blocks = playground.build()
    blocks.queue(default_concurrency_limit=4)
    root.add_middleware(SignInRedirect, reader=reader, prefix=PATH)
    theme = gr.themes.Soft(primary_hue="indigo", font=["system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])  # no web fonts: nothing loads from a CDN
    gr.mount_gradio_app(root, blocks, path=PATH, auth_dependency=reader.gradio_user, theme=theme,
                        css=PLAYGROUND_CSS, footer_links=[],
                        head='<link rel="icon" href="/dashboard/static/favicon.svg" type="image/svg+xml">',
                        run_history=False, ssr_mode=False, show_error=True,
                        max_file_size=flask_app.config["MAX_UPLOAD_BYTES"], mcp_server=False)
