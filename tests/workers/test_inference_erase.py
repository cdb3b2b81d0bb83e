"""Object erasing: IOPaint's crop strategy and mask handling (fast, stub network) and LaMa end to end
(slow: full-size random weights, ~205 MB)."""
import numpy as np
import pytest
from PIL import Image

import model_factories as mf
from workers import inference
from workers.engines.base import EngineError, EngineInput
from workers.inference import erase as erase_module
from workers.inference import run_model_engine


def stub_fill(calls):
    def fill(image, mask):
        calls.append(mask.shape)
        out = image.copy()
        out[:] = (1, 2, 3)
        return out
    return fill


def two_holes(size=(1000, 900)):
    width, height = size
    image = np.full((height, width, 3), 200, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[100:140, 100:150] = 255
    mask[700:720, 800:860] = 255
    return image, mask


def test_big_images_are_cropped_per_region():
    image, mask = two_holes()
    calls = []
    out = erase_module.erase(image, mask, stub_fill(calls))
    assert len(calls) == 2
    assert all(h <= 40 + 2 * erase_module.CROP_MARGIN and w <= 60 + 2 * erase_module.CROP_MARGIN for h, w in calls)
    assert (out[mask > 127] == (1, 2, 3)).all()
    assert (out[mask == 0] == 200).all()


def test_small_images_run_whole():
    image, mask = two_holes((400, 300))
    mask[:] = 0
    mask[10:20, 10:20] = 255
    mask[200:210, 300:310] = 255
    calls = []
    erase_module.erase(image, mask, stub_fill(calls))
    assert calls == [(300, 400)]


def test_a_region_past_the_resize_limit_is_filled_smaller_and_scaled_back(monkeypatch):
    monkeypatch.setattr(erase_module, "RESIZE_LIMIT", 256)
    image, mask = two_holes((1000, 900))
    mask[:] = 0
    mask[50:850, 50:950] = 255  # one region, 900 px across: its crop is the whole photo
    mask[450, 60:940] = 0
    mask[300, 20:980] = 255  # a one-pixel stroke must not vanish in the reduction
    calls, masks = [], []
    fill = stub_fill(calls)
    out = erase_module.erase(image, mask, lambda crop, small_mask: masks.append(small_mask) or fill(crop, small_mask))
    assert len(calls) == 1 and max(calls[0]) == 256
    factor = 256 / 1000
    assert masks[0][int(300 * factor), int(30 * factor)] == 255  # the stroke, outside the big region
    assert out.shape == image.shape
    assert (out[mask > 127] == (1, 2, 3)).all()
    assert (out[mask == 0] == 200).all()


def test_mask_is_dilated():
    mask = np.zeros((40, 40), np.uint8)
    mask[20, 20] = 255
    grown = erase_module.dilate(mask, 3)
    assert grown[20, 23] == 255 and grown[20, 24] == 0


def test_padding_to_a_multiple_of_8_is_cropped_back():
    import torch

    seen = []

    class Echo:
        device, dtype = torch.device("cpu"), torch.float32

        def __call__(self, image, mask):
            seen.append(tuple(image.shape[-2:]))
            return image

    image = np.random.default_rng(0).integers(0, 255, (37, 45, 3), dtype=np.uint8)
    out = erase_module.model_inpaint_fn(Echo())(image, np.zeros((37, 45), np.uint8))
    assert seen == [(40, 48)] and np.array_equal(out, image)


@pytest.fixture(scope="module")
def lama_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    mf.write_lama(folder / "lama" / "big-lama.pt")
    return folder


@pytest.mark.slow
def test_lama_end_to_end(lama_dir):
    inference.clear_model_cache()
    image = mf.gradient_image(96, 80)
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (30, 30, 50, 50))
    out = run_model_engine("erase-object", EngineInput(image, {}, mask), lama_dir)
    assert out.model == "lama" and out.image.size == image.size
    before, after = np.asarray(image), np.asarray(out.image)
    grown = erase_module.dilate(np.asarray(mask)) > 127
    assert (before[~grown] == after[~grown]).all()
    inference.clear_model_cache()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_lama_loads(tmp_path):
    import torch
    from spandrel.architectures.LaMa import LaMa

    model = LaMa(in_nc=4, out_nc=3).eval()
    example = (torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    path = tmp_path / "big-lama.pt"
    traced.save(str(path))
    loaded = erase_module.load_lama(path)
    fill = erase_module.model_inpaint_fn(loaded)
    out = fill(np.full((64, 64, 3), 128, np.uint8), np.zeros((64, 64), np.uint8))
    assert out.shape == (64, 64, 3)


class RunsOutOfMemory:
    """A LaMa stand-in that raises CUDA's out-of-memory error for its first ``failures`` calls, then fills the
    mask with grey; records the (height, width) of every call."""

    def __init__(self, failures: int):
        import torch

        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.failures, self.sizes = failures, []

    def __call__(self, image, mask):
        import torch

        self.sizes.append(tuple(image.shape[-2:]))
        if len(self.sizes) <= self.failures:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return image * (1 - mask) + 0.25 * mask


@pytest.fixture
def stand_in_lama(tmp_path, monkeypatch):
    """An installed lama whose loader returns the RunsOutOfMemory the test sets; records each memory release
    and whether an exception was still being handled then."""
    import sys

    from workers import tiling

    (tmp_path / "lama").mkdir()
    (tmp_path / "lama" / "big-lama.pt").write_bytes(b"stand-in")
    state = {"freed": []}
    monkeypatch.setattr(erase_module, "load_lama", lambda path: state["model"])
    monkeypatch.setattr(tiling, "free_cuda_memory", lambda: state["freed"].append(sys.exc_info()[0]))
    inference.clear_model_cache()
    yield state
    inference.clear_model_cache()


def erase_job(width=720, height=600):
    image = mf.gradient_image(width, height)
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (200, 150, 500, 450))
    return EngineInput(image, {}, mask)


def test_out_of_memory_retries_lama_at_half_the_size(tmp_path, stand_in_lama):
    stand_in_lama["model"] = lama = RunsOutOfMemory(failures=1)
    job = erase_job()
    out = run_model_engine("erase-object", job, tmp_path)
    # 720 px on the long side failed; the retry ran at max(OOM_FLOOR, 720 // 2) = 512 (padded to a multiple of 8)
    assert lama.sizes == [(600, 720), (432, 512)]
    assert stand_in_lama["freed"] == [None]  # memory released once, outside the except block
    assert out.image.size == (720, 600)
    before, after = np.asarray(job.image), np.asarray(out.image)
    grown = erase_module.dilate(np.asarray(job.mask)) > 127
    assert (before[~grown] == after[~grown]).all()
    assert (np.abs(after[300, 350].astype(int) - 64) <= 1).all()  # the fill, scaled back to full size


def test_out_of_memory_at_the_floor_fails_the_job(tmp_path, stand_in_lama):
    stand_in_lama["model"] = lama = RunsOutOfMemory(failures=99)
    with pytest.raises(EngineError, match="out of memory"):
        run_model_engine("erase-object", erase_job(), tmp_path)
    assert lama.sizes == [(600, 720), (432, 512)]
