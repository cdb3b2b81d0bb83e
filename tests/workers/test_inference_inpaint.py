"""Inpainting through diffusers on a tiny random StableDiffusionInpaintPipeline loaded offline."""
import numpy as np
import pytest
from PIL import Image

import model_factories as mf
from workers import inference
from workers.engines.base import EngineError, EngineInput
from workers.inference import inpaint as inpaint_module
from workers.inference import run_model_engine


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    mf.write_tiny_sd_inpainting(folder / "sd-inpainting")
    return folder


@pytest.fixture(autouse=True)
def small_working_size(monkeypatch):
    # The real pipeline works at 512-1024 px; the tiny one is as good at 64 and 8x faster.
    monkeypatch.setattr(inpaint_module, "WORK_MIN", 64)
    monkeypatch.setattr(inpaint_module, "WORK_MAX", 96)


@pytest.fixture(scope="module", autouse=True)
def fresh_cache():
    inference.clear_model_cache()
    yield
    inference.clear_model_cache()


def picture_and_mask(size=(120, 90), box=(50, 30, 70, 50)):
    image = mf.gradient_image(*size)
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return image, mask


def params(**overrides):
    return {"prompt": "a cat", "steps": 4, "cfg_scale": 7.5, "strength": 0.5, "seed": 7, **overrides}


def test_inpaint_returns_seed_and_effective_steps_and_reports_progress(models_dir):
    image, mask = picture_and_mask()
    progress = []
    out = run_model_engine("inpaint", EngineInput(image, params(), mask, progress.append), models_dir)
    assert out.engine == "model" and out.model == "sd-inpainting"
    assert out.info == {"seed": 7, "effective_steps": 2}
    assert out.image.size == image.size and out.image.mode == "RGB"
    assert len(progress) >= 3 and progress[-1] == pytest.approx(1.0)
    assert progress == sorted(progress)


def test_pixels_away_from_the_mask_are_unchanged(models_dir):
    image, mask = picture_and_mask()
    out = run_model_engine("inpaint", EngineInput(image, params(), mask), models_dir)
    before, after = np.asarray(image), np.asarray(out.image)
    far = np.ones(mask.size[::-1], bool)
    f = inpaint_module.FEATHER_PX
    far[30 - f:50 + f, 50 - f:70 + f] = False
    assert (before[far] == after[far]).all()
    assert (before[32:48, 52:68] != after[32:48, 52:68]).any()  # and the inside was repainted


def test_missing_seed_is_chosen_and_returned(models_dir):
    image, mask = picture_and_mask()
    out = run_model_engine("inpaint", EngineInput(image, params(seed=None, steps=1, strength=1.0), mask), models_dir)
    assert isinstance(out.info["seed"], int) and out.info["effective_steps"] == 1


def test_same_seed_same_result(models_dir):
    image, mask = picture_and_mask()
    a = run_model_engine("inpaint", EngineInput(image, params(seed=3), mask), models_dir)
    b = run_model_engine("inpaint", EngineInput(image, params(seed=3), mask), models_dir)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_odd_sizes_are_padded_to_a_multiple_of_8():
    scaled, padded = inpaint_module.working_size(67, 45)
    assert padded[0] % 8 == 0 and padded[1] % 8 == 0
    assert padded[0] >= scaled[0] and padded[1] >= scaled[1]


def test_a_cpu_works_at_sd15s_native_size_and_a_gpu_at_up_to_twice_it(monkeypatch):
    monkeypatch.setattr(inpaint_module, "WORK_MIN", 512)
    monkeypatch.setattr(inpaint_module, "WORK_MAX", 1024)
    assert inpaint_module.working_size(1600, 1200, "cuda") == ((1024, 768), (1024, 768))
    assert inpaint_module.working_size(1600, 1200, "cpu") == ((512, 384), (512, 384))
    assert inpaint_module.working_size(300, 200, "cpu")[0] == (512, 341)  # small crops still go up to 512


def test_tiny_pipeline_has_sd15_eighth_size_latents(models_dir):
    # With a x2 VAE a 4-step job at the engine's 512 px working size took 22-31 s (bench/RESULTS.md, change 9).
    pipe = inpaint_module.load_pipeline(models_dir / "sd-inpainting", "cpu")
    assert pipe.vae_scale_factor == 8 and pipe.unet.config.in_channels == 9
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == pipe.vae.config.sample_size


def test_alpha_is_kept(models_dir):
    image, mask = picture_and_mask(size=(61, 53), box=(20, 20, 35, 35))
    image = image.convert("RGBA")
    out = run_model_engine("inpaint", EngineInput(image, params(), mask), models_dir)
    assert out.image.mode == "RGBA" and out.image.size == (61, 53)


def test_mask_is_required(models_dir):
    image, _ = picture_and_mask()
    with pytest.raises(EngineError, match="mask"):
        run_model_engine("inpaint", EngineInput(image, params()), models_dir)


def _half_precision_overflows(pipe):
    """A VAE decoder that overflows in reduced precision, as SD's can in fp16: NaN unless it runs in float32."""
    import torch

    def overflow(_module, _inputs, output):
        return output * float("nan") if output.dtype != torch.float32 else None
    return pipe.vae.decoder.register_forward_hook(overflow)


def test_non_finite_output_in_reduced_precision_reruns_the_pipeline_in_float32(models_dir, caplog):
    import torch

    pipe = inpaint_module.load_pipeline(models_dir / "sd-inpainting", "cpu").to(dtype=torch.bfloat16)
    hook = _half_precision_overflows(pipe)
    try:
        image, mask = picture_and_mask()
        work = np.asarray(image.resize((64, 48)))
        call = dict(prompt="a cat", image=Image.fromarray(work), mask_image=Image.fromarray(np.asarray(
            mask.resize((64, 48)))), height=48, width=64, num_inference_steps=2, guidance_scale=7.5, strength=1.0,
            generator=torch.Generator("cpu").manual_seed(5))
        with caplog.at_level("WARNING"):
            result = inpaint_module.generate(pipe, **call)
        assert np.isfinite(result).all() and result.shape == (48, 64, 3)
        assert pipe.unet.dtype == torch.float32 and pipe.vae.dtype == torch.float32  # for good
        assert "float32 for good" in caplog.text
        # the rerun used the job's seed: the same call on the (now float32) pipeline gives the same image
        again = inpaint_module.generate(pipe, **{**call, "generator": torch.Generator("cpu").manual_seed(5)})
        assert np.array_equal(result, again)
    finally:
        hook.remove()


def test_non_finite_output_in_float32_fails_the_job(models_dir):
    import torch

    pipe = inpaint_module.load_pipeline(models_dir / "sd-inpainting", "cpu")
    hook = pipe.vae.decoder.register_forward_hook(lambda _m, _i, output: output * float("nan"))
    try:
        image, mask = picture_and_mask()
        with pytest.raises(EngineError, match="non-finite"):
            inpaint_module.generate(pipe, prompt="a cat", image=image.resize((64, 48)),
                                    mask_image=mask.resize((64, 48)), height=48, width=64, num_inference_steps=1,
                                    generator=torch.Generator("cpu").manual_seed(1))
    finally:
        hook.remove()
