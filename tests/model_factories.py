"""Tiny random-weight models with the real architectures, written to disk the way upstream ships them, so
tests drive the real loading code (spandrel detection, rembg sessions, diffusers from_pretrained) offline.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _conv(gen, out_ch: int, in_ch: int, gain: float = 1.0, k: int = 3):
    import torch

    std = gain * (2.0 / (in_ch * k * k)) ** 0.5
    weight = torch.randn(out_ch, in_ch, k, k, generator=gen) * std
    return weight, torch.zeros(out_ch)


def rrdbnet_state_dict(scale: int = 4, num_feat: int = 8, num_block: int = 1, num_grow_ch: int = 32,
                       seed: int = 0) -> dict:
    """Real-ESRGAN's RRDBNet with random weights, in basicsr's key layout (conv_first, body.N.rdbM.convK,
    conv_body, conv_up1/2, conv_hr, conv_last). x2 models see a pixel-unshuffled 12-channel input.
    spandrel assumes 32 growth channels, so only num_feat and num_block shrink."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    in_ch = {1: 48, 2: 12, 4: 3}[scale]
    sd: dict[str, torch.Tensor] = {}

    def put(name, out_ch, in_ch_, gain=1.0):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = _conv(gen, out_ch, in_ch_, gain)

    put("conv_first", num_feat, in_ch)
    for b in range(num_block):
        for r in (1, 2, 3):
            for c in range(1, 6):
                cin = num_feat + (c - 1) * num_grow_ch
                put(f"body.{b}.rdb{r}.conv{c}", num_feat if c == 5 else num_grow_ch, cin, 0.1)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        put(name, num_feat, num_feat, 0.5)
    put("conv_last", 3, num_feat, 0.5)
    sd["conv_last.bias"] = torch.full((3,), 0.5)  # mid-grey output keeps values away from the clamp
    return sd


def write_rrdbnet(path: Path, scale: int = 4, **kwargs) -> Path:
    """Save like RealESRGAN_x{2,4}plus.pth: {"params_ema": state_dict}; a .safetensors path gets the bare
    state dict, as community upscalers ship it."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = rrdbnet_state_dict(scale, **kwargs)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path


def write_compact(path: Path, scale: int = 4, num_feat: int = 8, num_conv: int = 4, seed: int = 0,
                  channels: int = 3) -> Path:
    """SRVGGNetCompact like realesr-general-x4v3.pth: {"params": body.N convs and PReLUs}. ``channels`` other
    than 3 makes a model spandrel loads but our engines cannot feed (e.g. 1: greyscale)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    sd["body.0.weight"], sd["body.0.bias"] = _conv(gen, num_feat, channels, 0.5)
    sd["body.1.weight"] = torch.full((num_feat,), 0.25)
    for i in range(num_conv):
        sd[f"body.{2 + 2 * i}.weight"], sd[f"body.{2 + 2 * i}.bias"] = _conv(gen, num_feat, num_feat, 0.5)
        sd[f"body.{3 + 2 * i}.weight"] = torch.full((num_feat,), 0.25)
    last = 2 + 2 * num_conv
    sd[f"body.{last}.weight"], sd[f"body.{last}.bias"] = _conv(gen, channels * scale * scale, num_feat, 0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": sd}, path)
    return path


def write_gfpgan(path: Path, seed: int = 0) -> Path:
    """GFPGAN v1.4 (clean arch) at its only detectable size (~349 MB of random weights)."""
    import torch
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(seed)
    model = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                   fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                   sft_half=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": model.state_dict()}, path)
    return path


def write_lama(path: Path, seed: int = 0) -> Path:
    """Big-LaMa at full size (~205 MB) with the released checkpoint's "generator.model..." key names.

    The released big-lama.pt is TorchScript; spandrel reads a .pt as TorchScript first and falls back to a
    pickled state dict, so this .pt exercises the same loader path (tested separately: ``torch.jit.load``)."""
    import torch
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(seed)
    model = LaMa(in_nc=4, out_nc=3)
    state = {k.replace("model.model", "generator.model", 1): v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def _write_saliency_onnx(path: Path, graph_name: str, input_name: str, output_names: list[str], size: int) -> Path:
    """A one-layer ONNX saliency net: (1,3,size,size) float in, each output (1,1,size,size) the same smooth
    map, bright where the image is red (a 1x1 conv weighting R against G and B, then a sigmoid)."""
    import onnx
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [2.0, -1.0, -1.0])
    first = output_names[0]
    nodes = [helper.make_node("Conv", [input_name, "w"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], [first])]
    nodes += [helper.make_node("Identity", [first], [name]) for name in output_names[1:]]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, size, size]) for name in output_names]
    graph = helper.make_graph(nodes, graph_name,
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])],
                              outputs, initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_u2net_like_onnx(path: Path, size: int = 320) -> Path:
    """An ONNX graph with U^2-Net's signature for rembg's u2net_custom session: input "input.1"
    (1,3,H,W) float, seven (1,1,H,W) outputs d1..d7, of which rembg reads d1."""
    return _write_saliency_onnx(path, "u2net_like", "input.1", [f"d{i}" for i in range(1, 8)], size)


def write_isnet_like_onnx(path: Path, size: int = 1024) -> Path:
    """An ONNX graph shaped like isnet-general-use for rembg's dis_custom session, which resizes every image to
    1024x1024, feeds the graph's first input and reads channel 0 of its first output (here one of six)."""
    return _write_saliency_onnx(path, "isnet_like", "input_image", ["output"] + [f"side{i}" for i in range(2, 7)],
                                size)


YUNET_STRIDES = (8, 16, 32)
# Eyes, nose tip, mouth corners as fractions of the face box (GFPGAN's 512 template, rounded).
YUNET_LANDMARKS_IN_BOX = ((0.38, 0.47), (0.62, 0.47), (0.50, 0.61), (0.39, 0.73), (0.61, 0.73))


def write_yunet_like_onnx(path: Path, face_px: int = 64) -> Path:
    """An ONNX graph with YuNet 2023mar's signature that cv2.FaceDetectorYN runs: it finds bright squares of
    ``face_px`` (in the detector's input pixels) on a dark background.

    Input "input" (1,3,H,W) BGR 0..255 with dynamic H, W; outputs cls/obj (1,N,1), bbox (1,N,4), kps (1,N,10)
    for strides 8, 16, 32, N = H*W/stride^2. Verified on OpenCV 5.0.0: it pads the image bottom/right to a
    multiple of 32, fetches the outputs by name (graph order does not matter), runs the graph in its new
    engine, which also accepts a fixed-size graph at any size; per cell (col, row) at stride s, score =
    sqrt(clamp(cls) * clamp(obj)), box centre (col + bbox0, row + bbox1) * s, size exp(bbox2|3) * s,
    landmark k (col + kps[2k], row + kps[2k+1]) * s; then threshold and NMS on int-truncated boxes.

    Only stride 8 responds: cls = obj = sigmoid of how much of a face_px window centred on the cell is
    bright minus how much of the ring around it (out to 2 × face_px) is, so the cell nearest the square's
    centre scores highest and NMS drops its neighbours, and like the real YuNet (faces of ~10-300 px) it
    finds only faces near its size: a square much larger than face_px scores low everywhere. Box and
    landmarks are constant per cell (zero-weight convs with a bias) and centred on it. Strides 16 and 32
    score ~0 but keep their shapes, since OpenCV indexes every output by the padded grid without checking."""
    import onnx
    from onnx import TensorProto, helper

    inits, nodes = [], []

    def const(name, dims, values, kind=TensorProto.FLOAT):
        inits.append(helper.make_tensor(name, kind, dims, list(values)))
        return name

    def flat(source, name, channels):
        """(1,C,h,w) -> (1,h*w,C), the cell order (row * cols + col) OpenCV reads."""
        nodes.append(helper.make_node("Transpose", [source], [f"{name}_hwc"], perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Reshape", [f"{name}_hwc", const(f"{name}_shape", [3], [1, -1, channels],
                                                                        TensorProto.INT64)], [name]))

    def per_cell(grid, name, bias):
        weight = const(f"{name}_w", [len(bias), 1, 1, 1], [0.0] * len(bias))
        nodes.append(helper.make_node("Conv", [grid, weight, const(f"{name}_b", [len(bias)], bias)], [f"{name}_map"]))
        flat(f"{name}_map", name, len(bias))

    nodes.append(helper.make_node("Conv", ["input", const("gray_w", [1, 3, 1, 1], [1 / 765] * 3)], ["bright"]))
    for s in YUNET_STRIDES:
        grid = f"grid_{s}"
        nodes.append(helper.make_node("AveragePool", ["bright"], [grid], kernel_shape=[s, s], strides=[s, s]))
        if s == YUNET_STRIDES[0]:
            pad = (face_px - s) // 2  # a face_px window centred on the cell's centre
            outer_pad = (2 * face_px - s) // 2  # and the 2 × face_px window around it
            nodes += [helper.make_node("AveragePool", ["bright"], ["window"], kernel_shape=[face_px, face_px],
                                       strides=[s, s], pads=[pad] * 4, count_include_pad=1),
                      helper.make_node("AveragePool", ["bright"], ["outer"], kernel_shape=[2 * face_px] * 2,
                                       strides=[s, s], pads=[outer_pad] * 4, count_include_pad=1),
                      # ring mean = (4 × outer mean − window mean) / 3; logit = 24 × (window − ring) − 14
                      helper.make_node("Mul", ["outer", const("ring_outer", [], [4 / 3])], ["outer_part"]),
                      helper.make_node("Mul", ["window", const("ring_inner", [], [1 / 3])], ["inner_part"]),
                      helper.make_node("Sub", ["outer_part", "inner_part"], ["ring"]),
                      helper.make_node("Sub", ["window", "ring"], ["contrast"]),
                      helper.make_node("Mul", ["contrast", const("gain", [], [24.0])], ["scaled"]),
                      helper.make_node("Add", ["scaled", const("offset", [], [-14.0])], ["logit"]),
                      helper.make_node("Sigmoid", ["logit"], ["score"])]
            flat("score", f"cls_{s}", 1)
            nodes.append(helper.make_node("Identity", [f"cls_{s}"], [f"obj_{s}"]))
        else:
            per_cell(grid, f"cls_{s}", [-30.0])
            per_cell(grid, f"obj_{s}", [-30.0])
        size = float(np.log(face_px / s))
        per_cell(grid, f"bbox_{s}", [0.5, 0.5, size, size])
        marks = 0.5 + (np.array(YUNET_LANDMARKS_IN_BOX) - 0.5) * face_px / s
        per_cell(grid, f"kps_{s}", marks.reshape(-1).tolist())

    width = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    outputs = [helper.make_tensor_value_info(f"{head}_{s}", TensorProto.FLOAT, [1, f"cells_{s}", width[head]])
               for head in width for s in YUNET_STRIDES]
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])
    model = helper.make_model(helper.make_graph(nodes, "yunet_like", [image], outputs, initializer=inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


def _byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE vocabulary: every byte, every byte + "</w>", a few merges, the specials."""
    chars = list(_bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    tokens += ["ca", "cat</w>", "do", "dog</w>", "<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _clip_tokenizer(workdir: Path):
    """A CLIPTokenizer built locally (transformers 5 takes the vocab itself; 4.x wants the two files)."""
    import inspect

    from transformers import CLIPTokenizer

    vocab, merges = _byte_level_vocab()
    if "vocab" in inspect.signature(CLIPTokenizer.__init__).parameters:
        return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77), vocab
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "vocab.json").write_text(json.dumps(vocab))
    (workdir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return CLIPTokenizer(str(workdir / "vocab.json"), str(workdir / "merges.txt"), model_max_length=77), vocab


VAE_CHANNELS = (16, 32, 32, 32)  # one entry per VAE block: 4 blocks downscale x8, like SD 1.5's VAE


def write_tiny_sd_inpainting(folder: Path, seed: int = 0) -> Path:
    """A small StableDiffusionInpaintPipeline folder (save_pretrained layout): tiny CLIP text encoder and
    tokenizer, a 9-input-channel UNet, a tiny x8 VAE, DDIM scheduler; no safety checker."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tok_dir = folder.parent / f".{folder.name}-tokenizer"
    tokenizer, vocab = _clip_tokenizer(tok_dir)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"], projection_dim=32))
    # Latents are 1/8 of the image, as in SD 1.5 (4 VAE blocks): with a x2 VAE the UNet's attention would run
    # on 256² latents at the engine's 512 px working size, and one 4-step job took 22-31 s instead of seconds.
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=4,
        norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=VAE_CHANNELS, in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * len(VAE_CHANNELS),
                        up_block_types=("UpDecoderBlock2D",) * len(VAE_CHANNELS), norm_num_groups=8,
                        sample_size=64)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def safetensors_bytes(seed: int = 0) -> bytes:
    """A tiny, valid safetensors file (one 2x3 float16 tensor): weights that parse but mean nothing."""
    from safetensors.numpy import save

    return save({"weight": np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float16)})


def write_sd_inpainting_skeleton(folder: Path, weights: dict[str, bytes] | None = None,
                                 unet_in_channels: int = 9) -> Path:
    """What `models add` checks of a diffusers inpainting folder, without a real pipeline: model_index.json with
    the pipeline's parts, the configs (an inpainting UNet takes 9 channels) and tiny safetensors weights (unet,
    vae, text_encoder), then ``weights`` (path -> bytes) written over them."""
    import json

    index = {"_class_name": "StableDiffusionInpaintPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"]}
    files = {"model_index.json": json.dumps(index), "scheduler/scheduler_config.json": "{}",
             "tokenizer/tokenizer_config.json": "{}", "text_encoder/config.json": "{}", "vae/config.json": "{}",
             "unet/config.json": json.dumps({"in_channels": unet_in_channels}),
             "unet/diffusion_pytorch_model.safetensors": safetensors_bytes(1),
             "vae/diffusion_pytorch_model.safetensors": safetensors_bytes(2),
             "text_encoder/model.safetensors": safetensors_bytes(3)}
    for path, data in {**files, **(weights or {})}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data.encode() if isinstance(data, str) else data)
    return folder


def gradient_image(width: int, height: int, mode: str = "RGB", seed: int = 0):
    """A smooth test picture with some texture (not flat, so tiling seams would show)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1),
                    0.5 + 0.5 * np.sin((xx + yy) / 5.0)], axis=2) * 200 + rng.normal(0, 10, (height, width, 3))
    array = rgb.clip(0, 255).astype(np.uint8)
    if mode == "RGBA":
        alpha = (np.clip(xx / max(width - 1, 1), 0, 1) * 255).astype(np.uint8)
        array = np.dstack([array, alpha])
    return Image.fromarray(array, mode)
