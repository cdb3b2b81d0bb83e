"""The CUDA precision and memory-format policy (workers/device.py, workers/tiling.py), checked on the CPU: the
choices it makes per architecture, and the conversions that must not break the models it is applied to."""
import numpy as np
import pytest
import torch
from spandrel import ModelLoader

import model_factories as mf
from workers.device import NonFiniteOutput, dtype_for, refuse_non_finite_outputs, run_with_fp32_fallback
from workers.device import apply_gpu_layout, to_channels_last
from workers.tiling import run_tiled


class ModulatedConv(torch.nn.Module):
    """StyleGAN2's modulated convolution keeps a 5-D weight, as GFPGAN's decoder does."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, 8, 8, 3, 3))
        self.conv = torch.nn.Conv2d(8, 8, 3)


def test_channels_last_converts_convolutions_and_leaves_five_d_weights_alone():
    model = ModulatedConv()
    with pytest.raises(RuntimeError):  # what Module.to(memory_format=...) does with a 5-D parameter
        ModulatedConv().to(memory_format=torch.channels_last)
    to_channels_last(model)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.weight.dim() == 5


@pytest.mark.slow
def test_gfpgan_keeps_running_after_the_gpu_layout_is_applied(tmp_path):
    """The CUDA path once made GFPGAN's convolutions channels_last, and GFPGAN's .view() of a convolution's output
    then failed on every restore-face job; the layout now leaves it contiguous (run here on the CPU)."""
    descriptor = ModelLoader().load_from_file(mf.write_gfpgan(tmp_path / "GFPGANv1.4.pth"))
    face = torch.rand(1, 3, 512, 512)
    to_channels_last(descriptor.model)
    with pytest.raises(RuntimeError, match="view"):  # what channels_last does to it
        with torch.no_grad():
            descriptor(face)
    descriptor = ModelLoader().load_from_file(tmp_path / "GFPGANv1.4.pth")
    apply_gpu_layout(descriptor)
    with torch.no_grad():
        assert descriptor(face).shape == (1, 3, 512, 512)


def test_the_gpu_layout_makes_other_architectures_channels_last(tmp_path):
    compact = ModelLoader().load_from_file(mf.write_compact(tmp_path / "c.pth"))
    apply_gpu_layout(compact)
    convs = [m for m in compact.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)


def test_precision_per_architecture_on_cuda(tmp_path):
    compact = ModelLoader().load_from_file(mf.write_compact(tmp_path / "c.pth"))
    lama = ModelLoader().load_from_file(mf.write_lama(tmp_path / "big-lama.pt"))
    assert dtype_for(compact, "cuda") == torch.float16
    assert lama.supports_bfloat16 and dtype_for(lama, "cuda") == torch.float32  # its FFTs break in bf16
    assert dtype_for(compact, "cpu") == torch.float32


def test_sixteen_bit_white_survives_half_precision():
    image = torch.tensor(np.array([[[0, 1000, 65504, 65520, 65535]]], dtype=np.int32))
    out = run_tiled(lambda x: x, image, 1, tile=8, pad=0, dtype=torch.float16)
    assert out.dtype == torch.int32
    assert np.abs(out.numpy().astype(np.int64) - image.numpy()).max() <= 32  # fp16 steps near 1.0 are 1/2048


class Amplifier(torch.nn.Module):
    """Overflows fp16 (max 65504) on any input above 0.66; spandrel would clamp the +Inf to 1 afterwards."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(1e5))

    def forward(self, x):
        return x * self.gain


def test_half_precision_overflow_is_caught_before_clamping_and_retried_in_float32():
    model = Amplifier().half()
    refuse_non_finite_outputs(model)
    x = torch.ones(1, 3, 4, 4)
    with pytest.raises(NonFiniteOutput):
        model(x.half())

    class Descriptor:  # the part of spandrel's descriptor the fallback uses
        dtype = torch.float16

        def float(self):
            model.float()
            self.dtype = torch.float32

    descriptor = Descriptor()
    out = run_with_fp32_fallback(descriptor, lambda: model(x.to(descriptor.dtype)).clamp(0, 1))
    assert descriptor.dtype == torch.float32 and bool((out == 1).all())
