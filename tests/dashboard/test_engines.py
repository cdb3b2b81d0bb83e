"""Issue 17: each tool says before Run what will run it and why, from what the live workers publish."""
from __future__ import annotations

import pytest

from pixelforge.dashboard.engines import engine_note, installed_model_choices, live_workers
from pixelforge.queue import get_redis, publish_worker_info, record_worker_heartbeat
from test_pages import page, sign_in  # noqa: F401  (a fixture)


def a_worker(name: str, models: list[str], device: str = "cpu") -> None:
    queues = ["pixelforge", *(f"pixelforge:model:{m}" for m in models)]
    publish_worker_info(get_redis(), name, {"device": device, "models": {m: None for m in models}, "queues": queues})
    record_worker_heartbeat(get_redis(), name)


@pytest.fixture
def live(app):
    app.config["REQUIRE_LIVE_WORKER"] = True


def test_without_a_model_the_classical_engine_is_named_with_the_command_that_installs_one(app, live):
    a_worker("w1", [])
    note = engine_note("upscale", {"scale": 4}, live_workers())
    assert note.available and note.engine == "classical"
    assert "Real-ESRGAN is not installed" in note.text and "pixelforge models pull realesr-general-x4v3" in note.text
    face = engine_note("restore-face", {"fidelity": 0.7}, live_workers())
    assert "pixelforge models pull gfpgan-1.4 yunet-2023mar" in face.text


def test_inpaint_without_its_model_is_unavailable_up_front(app, live):
    a_worker("w1", ["lama"])
    note = engine_note("inpaint", {}, live_workers())
    assert not note.available and "Unavailable" in note.text and "pixelforge models pull sd-inpainting" in note.text
    erase = engine_note("erase-object", {}, live_workers())
    assert erase.available and erase.engine == "model" and erase.model == "lama"


def test_a_live_workers_model_is_named(app, live):
    a_worker("w1", ["realesr-general-x4v3", "rembg-u2net"])
    assert engine_note("upscale", {"scale": 4}, live_workers()).model == "realesr-general-x4v3"
    assert engine_note("upscale", {"scale": 2}, live_workers()).engine == "classical"
    assert installed_model_choices("remove-background", live_workers()) == ["u2net"]
    refused = engine_note("remove-background", {"model": "isnet-general-use"}, live_workers())
    assert not refused.available and "rembg-isnet-general-use" in refused.text


def test_no_worker_means_nothing_can_run(app, live):
    note = engine_note("enhance", {}, live_workers())
    assert not note.available and "pixelforge worker" in note.text


def test_the_models_page_lists_every_tool(client, sign_in, live):
    sign_in()
    a_worker("w1", ["lama"])
    html = page(client, "/dashboard/models")
    for testid in ("model-upscale-2x", "model-upscale-4x", "model-inpaint", "model-erase-object"):
        assert f'data-testid="{testid}"' in html
    assert "pixelforge models pull sd-inpainting" in html and "w1" in html
