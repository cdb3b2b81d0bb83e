"""The reviewer's check of issue 14: a new operation is one spec file and one engine function. A toy `grayscale`
(classical only) is written into a package of its own, named in the OPERATION_PACKAGES setting and nowhere else, and
it is offered by the API (a real job through a real worker returns a grey picture), the OpenAPI document, the
playground's tabs, the dashboard's engine notes and `pixelforge models list`."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import image_bytes
from pixelforge.operations import OPERATIONS
from surfaces import api_routes, models_list, playground_tabs

SPEC_FILE = '''"""grayscale: the picture in shades of grey."""
from pixelforge.operations import OUTPUT, ClassicalEngine, Operation, TimeLimits

OPERATION = Operation(
    name="grayscale", title="Grayscale", summary="Turn a picture into shades of grey.",
    params=OUTPUT, cost=lambda params: 1, time_limits=TimeLimits(cpu=60, gpu=60),
    classical=ClassicalEngine("toy_engines:grayscale", "ITU-R 601-2 luma"),
)
'''

ENGINE_FILE = '''from workers.engines.base import EngineInput, EngineOutput


def grayscale(inp: EngineInput) -> EngineOutput:
    return EngineOutput(image=inp.image.convert("L").convert("RGB"), engine="classical")
'''


@pytest.fixture
def toy_operations(tmp_path_factory, monkeypatch):
    """The toy package on the import path and in the setting; the registry as it was afterwards."""
    root = tmp_path_factory.mktemp("toy")
    (root / "toyops").mkdir()
    (root / "toyops" / "__init__.py").write_text("")
    (root / "toyops" / "grayscale.py").write_text(SPEC_FILE)
    (root / "toy_engines.py").write_text(ENGINE_FILE)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PIXELFORGE_OPERATION_PACKAGES", json.dumps(["toyops"]))
    assert "grayscale" not in OPERATIONS
    registered, discovered = dict(OPERATIONS._by_name), set(OPERATIONS._discovered)
    yield
    OPERATIONS._by_name.clear()  # the registry is the process's: give the other tests back the built-in one
    OPERATIONS._by_name.update(registered)
    OPERATIONS._discovered.clear()
    OPERATIONS._discovered.update(discovered)
    for name in [name for name in sys.modules if name.split(".")[0] in ("toyops", "toy_engines")]:
        del sys.modules[name]


@pytest.fixture
def app(toy_operations, app):
    """tests/conftest.py's app, created while the setting names the toy package."""
    return app


def test_a_toy_operation_runs_through_the_api_and_a_worker(app, api, work_queue):
    assert "/api/v1/grayscale" in api_routes(app)
    submitted = api.submit("grayscale", image_bytes(40, 30), output_format="png")
    assert submitted.status_code == 202, submitted.get_json()
    job_id = submitted.get_json()["job_id"]
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "done" and job["engine"] == "classical" and job["operation"] == "grayscale"
    assert job["credits"] == 1 and api.user.credits == 9
    result = Image.open(io.BytesIO(api.get(f"/jobs/{job_id}/download").data))
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert result.size == (40, 30) and pixels.std() > 0  # the picture, not a blank
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()  # grey


def test_a_toy_operation_is_in_the_document_the_playground_the_dashboard_and_models_list(app, client, tmp_path,
                                                                                          monkeypatch):
    from pixelforge.dashboard.engines import engine_note, live_workers

    document = client.get("/api/v1/openapi.json").get_json()
    assert document["paths"]["/grayscale"]["post"]["summary"] == "Turn a picture into shades of grey."
    assert "grayscale" in document["components"]["schemas"]["Job"]["properties"]["operation"]["enum"]
    tabs = playground_tabs(app, tmp_path)
    assert tabs["grayscale"] == "Grayscale" and list(tabs)[-1] == "grayscale"  # after the built-in tools
    note = engine_note("grayscale", {}, live_workers())
    assert note.available and note.engine == "classical" and "ITU-R 601-2 luma" in note.text
    assert "  grayscale          classical" in models_list(app, monkeypatch)
