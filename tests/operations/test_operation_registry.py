"""The operations registry: every operation is complete (engines that import, a time limit per device, words for
every parameter, models the model registry knows) and reaches every place built from the registry (the API's routes,
the OpenAPI document, the playground's tabs, `pixelforge models list`, the job time limits); a duplicate name is
refused and an unknown one named."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pixelforge.operations import (OPERATIONS, ClassicalEngine, DuplicateOperation, Operation, OperationRegistry,
                                   TimeLimits, UnknownOperation, get_operation)
from surfaces import api_routes, models_list, playground_tabs
from workers.engines.base import load_function
from pixelforge.model_registry import REGISTRY

BUILT_IN = list(OPERATIONS.values())


@pytest.mark.parametrize("operation", BUILT_IN, ids=lambda op: op.name)
def test_every_function_a_spec_names_imports(operation):
    assert operation.dotted_paths(), "an operation needs an engine"
    for dotted in operation.dotted_paths():
        assert callable(load_function(dotted)), dotted


@pytest.mark.parametrize("operation", BUILT_IN, ids=lambda op: op.name)
def test_every_spec_is_complete(operation):
    assert operation.title and operation.summary.endswith(".")
    assert operation.time_limit("cpu") > 0 and operation.time_limit("cuda") > 0
    assert set(operation.output_formats) == {"png", "jpeg", "webp"}
    for param in operation.params:
        assert param.label, f"{operation.name}: {param.name} has no label for the playground"
    defaults = operation.defaults()
    assert operation.cost(defaults) >= 1 and operation.output_scale(defaults) >= 1
    if operation.classical is not None:
        assert operation.classical.description
    if operation.model is None:
        return
    assert operation.model.family
    for _, params in operation.variants:
        for device in ("cpu", "cuda"):
            preferred = operation.model.preference({**defaults, **params}, device)
            assert preferred and all(name in REGISTRY for name in preferred), (params, device, preferred)


def test_every_operation_is_on_every_surface(app, tmp_path, monkeypatch):
    from pixelforge.api.openapi import build_document
    from pixelforge.queue import job_timeout

    routes, document = api_routes(app), build_document(app)
    tabs, listing = playground_tabs(app, tmp_path), models_list(app, monkeypatch)
    assert list(tabs) == list(OPERATIONS)  # the tabs in the specs' order
    for operation in OPERATIONS.values():
        assert f"/api/v1/{operation.name}" in routes
        assert document["paths"][f"/{operation.name}"]["post"]["summary"] == operation.summary
        assert tabs[operation.name] == operation.title
        assert re.search(rf"^  {re.escape(operation.name)}\b", listing, re.MULTILINE), operation.name
        assert job_timeout(operation.name) == operation.time_limits.cpu
        assert job_timeout(operation.name, "cuda") == min(operation.time_limits.cpu, operation.time_limits.gpu)
    assert document["components"]["schemas"]["Job"]["properties"]["operation"]["enum"] == sorted(OPERATIONS)


def test_a_time_limit_setting_overrides_the_spec(app):
    from pixelforge.queue import job_timeout

    app.config["JOB_TIMEOUTS"] = {"enhance": 7}
    app.config["GPU_JOB_TIMEOUTS"] = {"upscale": 5}
    assert job_timeout("enhance") == 7 and job_timeout("enhance", "cuda") == 7  # the GPU limit never exceeds it
    assert job_timeout("upscale", "cuda") == 5 and job_timeout("upscale") == get_operation("upscale").time_limits.cpu


def test_a_second_operation_of_one_name_is_refused():
    registry = OperationRegistry(packages=())
    registry.add(get_operation("enhance"))
    with pytest.raises(DuplicateOperation, match="'enhance' is already registered"):
        registry.add(replace(get_operation("enhance"), title="Enhance again"))
    assert registry["enhance"] is get_operation("enhance")


def test_a_package_that_repeats_a_name_is_refused(tmp_path, monkeypatch):
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "__init__.py").write_text("")
    (tmp_path / "again" / "enhance_too.py").write_text(
        "from dataclasses import replace\n"
        "from pixelforge.operations.enhance import OPERATION as ENHANCE\n"
        "OPERATION = replace(ENHANCE, title='Enhance too')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "again", raising=False)
    registry = OperationRegistry(packages=("pixelforge.operations",))
    assert len(registry) == len(OPERATIONS)
    with pytest.raises(DuplicateOperation, match="enhance"):
        registry.discover("again")


def test_discovery_reads_a_package_once_and_skips_modules_without_an_operation():
    registry = OperationRegistry(packages=())
    found = registry.discover("pixelforge.operations")
    assert sorted(op.name for op in found) == sorted(OPERATIONS)  # params.py, spec.py, registry.py define none
    assert registry.discover("pixelforge.operations") == []


def test_an_unknown_name_is_a_named_error(api):
    with pytest.raises(UnknownOperation, match="unknown operation 'colorize'; known operations: enhance"):
        get_operation("colorize")
    assert "colorize" not in OPERATIONS and OPERATIONS.get("colorize") is None
    assert api.submit("colorize", b"").status_code == 404  # no route, nothing charged
    assert api.user.credits == 10


def test_a_spec_must_name_an_engine_it_can_import_by_path():
    limits = TimeLimits(cpu=10, gpu=10)
    with pytest.raises(ValueError, match="needs a model engine, a classical engine or both"):
        Operation(name="nothing", title="Nothing", summary="Does nothing.", params=(), cost=lambda p: 1,
                  time_limits=limits)
    with pytest.raises(ValueError, match="is not a 'package.module:function' path"):
        Operation(name="bad", title="Bad", summary="Bad path.", params=(), cost=lambda p: 1, time_limits=limits,
                  classical=ClassicalEngine("workers.engines.enhance.classical_enhance", "a dot, not a colon"))
