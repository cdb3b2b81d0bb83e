"""bench/rembg_ratio.py on an install without rembg's server packages (the service's `.[all]`, seen on a fresh
machine): the section says what is missing and how to get it, instead of a traceback from `rembg s`."""
import importlib.metadata
import math

from bench import rembg_ratio


def test_without_rembg_cli_packages_the_section_says_so_and_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(rembg_ratio, "_real_u2net", lambda: (tmp_path / "u2net.onnx", ""))
    real_distribution = importlib.metadata.distribution

    def distribution(name):
        if name == "filetype":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setattr(rembg_ratio, "BenchService", lambda: (_ for _ in ()).throw(AssertionError("started")))

    rows, figures = rembg_ratio.run(quick=True)

    assert math.isnan(figures["rembg_ratio"])
    assert [row.value for row in rows] == ["n/a"]
    assert "filetype" in rows[0].detail and "pip install -e '.[test]'" in rows[0].detail


def test_the_test_install_has_what_rembg_s_needs():
    assert rembg_ratio.missing_server_packages() == []
