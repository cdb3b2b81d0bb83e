"""The Gradio playground, mounted into the served ASGI app. Importing this package imports no Gradio."""
from __future__ import annotations

import os
from pathlib import Path

PATH = "/playground"
HERE = Path(__file__).parent


def mount_playground(root, flask_app) -> None:
    """Mount the playground at /playground on root (a FastAPI app), behind the dashboard's sign-in and the guard."""
    temp_dir = Path(flask_app.config["PLAYGROUND_TEMP_DIR"] or Path(flask_app.instance_path) / "gradio").resolve()
    temp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)  # read by Gradio at import time
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import gradio as gr

    from ui.ownership import HandedOut, SessionOwners
    from ui.playground import RESULT_FILES_KEEP_SECONDS, Playground
    from ui.queue_timing import quieten_when_idle
    from ui.session import FlaskSessionReader, SignInRedirect
    from ui.uploads import UploadRules, UploadStore, start_sweeper

    reader = FlaskSessionReader(flask_app)
    uploads = UploadStore(temp_dir / "uploads", UploadRules.from_config(flask_app.config))
    playground = Playground(flask_app, temp_dir / "results", uploads,
                            concurrency=int(flask_app.config["PLAYGROUND_CONCURRENCY"]))
    blocks = playground.build()
    blocks.queue(default_concurrency_limit=4)
    quieten_when_idle(blocks)
    root.add_middleware(SignInRedirect, reader=reader, prefix=PATH)
    gr.mount_gradio_app(root, blocks, path=PATH, auth_dependency=reader.gradio_user, theme=playground_theme(),
                        css=(HERE / "playground.css").read_text(encoding="utf-8"), footer_links=[],
                        head='<link rel="icon" href="/dashboard/static/favicon.svg" type="image/svg+xml">'
                             f'<script>{(HERE / "playground.js").read_text(encoding="utf-8")}</script>',
                        run_history=False, ssr_mode=False, show_error=False,
                        blocked_paths=[str(path) for path in server_paths(flask_app, temp_dir)],
                        max_file_size=flask_app.config["MAX_UPLOAD_BYTES"], mcp_server=False)
    # Mounted apps never "launch", and Gradio skips its own upload-folder check until they have: turn it on
    # (behind the guard, a second wall against a client-supplied path).
    blocks.has_launched = True
    handed_out, sessions = HandedOut(RESULT_FILES_KEEP_SECONDS), SessionOwners()
    _guard_mount(root, reader, uploads, handed_out, sessions)
    start_sweeper(uploads, handed_out, sessions)


def playground_theme():
    """Gradio's Soft theme with text at 4.5:1 or more (its primary button, block labels and hints were below) and
    no web fonts (nothing loads from a CDN)."""
    import gradio as gr

    theme = gr.themes.Soft(primary_hue="indigo", neutral_hue="gray", font=["system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])
    return theme.set(
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        button_primary_text_color="white", button_primary_background_fill_dark="*primary_700",
        button_primary_text_color_dark="white", button_primary_background_fill_hover_dark="*primary_800",
        button_cancel_background_fill="#b42318", button_cancel_background_fill_hover="#912018",
        button_cancel_text_color="white",
        block_label_text_color="*primary_800", block_title_text_color="*primary_800",
        block_info_text_color="*neutral_600", body_text_color_subdued="*neutral_600",
        checkbox_label_text_color="*neutral_800", input_placeholder_color="*neutral_600",
        checkbox_label_background_fill_selected="*primary_700", checkbox_label_text_color_selected="white",
        link_text_color="*primary_800", link_text_color_dark="*primary_300",
    )


def _guard_mount(root, reader, uploads, handed_out, sessions) -> None:
    """Put the guard between the mount and Gradio, so it sees every request Gradio's router would."""
    from starlette.routing import Mount

    from ui.guard import PlaygroundGuard

    mount = next(route for route in root.routes if isinstance(route, Mount) and route.path == PATH)
    mount.app = PlaygroundGuard(mount.app, reader, uploads, handed_out, sessions)


def server_paths(flask_app, temp_dir: Path) -> list[Path]:
    """Everything of the instance the playground must never serve: secrets, database, storage, models, Redis.

    Gradio's blocked_paths take precedence over its own folders, so the playground's temp folder (by default
    inside the instance) is left out and everything beside it is listed.
    """
    config, instance = flask_app.config, Path(flask_app.instance_path).resolve()
    paths = [Path(config["STORAGE_DIR"]), Path(config["MODELS_DIR"]), instance / "secret_key",
             instance / "key_hash_secret", instance / "config.py", instance / "redis"]
    database = config["SQLALCHEMY_DATABASE_URI"]
    if database.startswith("sqlite:///"):
        file = Path(database[len("sqlite:///"):])
        paths += [file, *(file.with_name(file.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    if temp_dir.is_relative_to(instance):
        keep = {temp_dir, *temp_dir.parents}
        paths += [entry for entry in instance.iterdir() if entry.resolve() not in keep]
    else:
        paths.append(instance)
    return sorted({path.resolve() for path in paths})
