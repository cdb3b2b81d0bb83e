"""Where the registry's operations show: the API's routes, the OpenAPI document, the playground's tabs and
`pixelforge models list`, each read from the real thing."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner


def api_routes(app) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}


def playground_tabs(app, folder: Path) -> dict[str, str]:
    """{operation: tab title} of the playground built for app (its Gradio Blocks, not a browser)."""
    import gradio as gr

    from ui.playground import Playground
    from ui.uploads import UploadRules, UploadStore

    uploads = UploadStore(folder / "uploads", UploadRules.from_config(app.config))
    playground = Playground(app, folder / "results", uploads)
    blocks = playground.build()
    titles = {block.id: block.label for block in blocks.blocks.values() if isinstance(block, gr.Tab)}
    assert set(titles) == set(playground.tools)
    return titles


def models_list(app, monkeypatch) -> str:
    """`pixelforge models list --device cpu`, run as the command runs (it builds its own app from the environment)."""
    from pixelforge.cli import main

    monkeypatch.setenv("PIXELFORGE_INSTANCE", app.instance_path)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    result = CliRunner().invoke(main, ["models", "list", "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output
