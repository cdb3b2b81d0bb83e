"""One settings source: load_settings reads what create_app reads, without building the app or creating anything,
and the worker's device variables are read in config too."""
from __future__ import annotations

from pathlib import Path

from pixelforge import create_app
from pixelforge.config import PLAN_NAMES, load_settings, worker_environment
from pixelforge.plans import PLANS

ROOT = Path(__file__).resolve().parents[1]


def test_load_settings_creates_nothing_and_agrees_with_the_app(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("PIXELFORGE_INSTANCE", str(instance))
    monkeypatch.setenv("PIXELFORGE_MODELS", str(tmp_path / "weights"))
    monkeypatch.setenv("PIXELFORGE_WORKER_HEARTBEAT_SECONDS", "2.5")
    settings = load_settings()
    assert not instance.exists()  # no folder, database or secret made just to read a path
    assert settings["MODELS_DIR"] == str(tmp_path / "weights")
    assert settings["WORKER_HEARTBEAT_SECONDS"] == 2.5
    assert settings["STORAGE_DIR"] == str(instance / "storage")
    app = create_app()
    for name in ("MODELS_DIR", "STORAGE_DIR", "STORAGE_URL", "SQLALCHEMY_DATABASE_URI", "WORKER_HEARTBEAT_SECONDS",
                 "UPKEEP_EVERY_SECONDS", "JOB_TIMEOUTS"):
        assert app.config[name] == settings[name], name


def test_instance_config_py_is_read_too(tmp_path):
    (tmp_path / "config.py").write_text("UPKEEP_EVERY_SECONDS = 9.0\n")
    assert load_settings(instance_path=str(tmp_path))["UPKEEP_EVERY_SECONDS"] == 9.0


def test_the_models_cli_reads_its_folder_without_a_database(tmp_path, monkeypatch):
    from pixelforge.cli.models import models_dir

    monkeypatch.setenv("PIXELFORGE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.delenv("PIXELFORGE_MODELS", raising=False)
    monkeypatch.delenv("PIXELFORGE_MODELS_DIR", raising=False)
    assert models_dir() == tmp_path / "instance" / "models"
    assert not (tmp_path / "instance").exists()


def test_the_worker_environment_keeps_its_documented_names(monkeypatch):
    monkeypatch.setenv("PIXELFORGE_DEVICE", " CPU ")
    monkeypatch.setenv("PIXELFORGE_TILE", "128")
    monkeypatch.setenv("PIXELFORGE_ONNX_ALLOW_CPU", "1")
    assert worker_environment() == (worker_environment().__class__)(device="cpu", tile=128, onnx_allow_cpu=True)
    monkeypatch.setenv("PIXELFORGE_DEVICE", "tpu")
    monkeypatch.delenv("PIXELFORGE_TILE")
    monkeypatch.setenv("PIXELFORGE_ONNX_ALLOW_CPU", "0")
    assert worker_environment() == (worker_environment().__class__)(device=None, tile=None, onnx_allow_cpu=False)


def test_the_plan_table_has_a_row_per_configured_plan_name():
    assert tuple(PLANS) == PLAN_NAMES


def test_only_config_reads_the_workers_variables():
    readers = [str(path.relative_to(ROOT)) for package in ("pixelforge", "workers", "ui")
               for path in (ROOT / package).rglob("*.py")
               for name in ("PIXELFORGE_DEVICE\"", "PIXELFORGE_TILE\"", "PIXELFORGE_ONNX_ALLOW_CPU\"")
               if f'environ.get("{name}' in path.read_text()]
    assert readers == []
