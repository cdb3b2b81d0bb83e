"""The operations registry: every module of pixelforge/operations/ (and of each package named in the
OPERATION_PACKAGES setting) that defines ``OPERATION`` is one operation, so adding one is adding one file.

As in spandrel's architecture registry, entries are frozen values registered once by name: a second operation of
the same name is refused (DuplicateOperation) and asking for one that does not exist is a named error
(UnknownOperation). The built-in package is read on first use, not at import.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterator, Mapping

from pixelforge.errors import NotFound, PixelForgeError
from pixelforge.operations.spec import Operation

BUILT_IN = "pixelforge.operations"


class UnknownOperation(NotFound, KeyError):
    """No operation has that name (a KeyError too, so the registry is a Mapping)."""

    code = "unknown_operation"
    title = "No such operation"

    def api_message(self) -> str:
        return str(self)


class DuplicateOperation(PixelForgeError, ValueError):
    """Two operations were registered under one name: a deployment's mistake, found at start."""

    code = "duplicate_operation"
    title = "Two operations share a name"


class OperationRegistry(Mapping):
    """Operations by name, in their ``order``; a read-only mapping once discovered."""

    def __init__(self, packages: tuple[str, ...] = (BUILT_IN,)):
        self._by_name: dict[str, Operation] = {}
        self._discovered: set[str] = set()
        self._first_packages = packages
        self._lock = threading.RLock()

    def add(self, operation: Operation) -> None:
        with self._lock:
            if operation.name in self._by_name:
                raise DuplicateOperation(f"operation {operation.name!r} is already registered")
            self._by_name[operation.name] = operation

    def discover(self, package: str) -> list[Operation]:
        """Import every module of ``package`` and register each one's OPERATION; a package is read once."""
        with self._lock:
            if package in self._discovered:
                return []
            self._discovered.add(package)
            root = importlib.import_module(package)
            found = []
            for info in pkgutil.iter_modules(root.__path__, f"{package}."):
                operation = getattr(importlib.import_module(info.name), "OPERATION", None)
                if isinstance(operation, Operation):
                    found.append(operation)
            for operation in found:
                self.add(operation)
            return found

    def _ready(self) -> dict[str, Operation]:
        if not self._discovered.issuperset(self._first_packages):
            with self._lock:
                for package in self._first_packages:
                    self.discover(package)
        return self._by_name

    def __getitem__(self, name: str) -> Operation:
        try:
            return self._ready()[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise UnknownOperation(f"unknown operation {name!r}; known operations: {known}") from None

    def __iter__(self) -> Iterator[str]:
        operations = sorted(self._ready().values(), key=lambda op: (op.order, op.name))
        return iter([op.name for op in operations])

    def __len__(self) -> int:
        return len(self._ready())

    def __contains__(self, name: object) -> bool:
        return name in self._ready()


OPERATIONS = OperationRegistry()


def get_operation(name: str) -> Operation:
    """The operation called ``name``; UnknownOperation if there is none."""
    return OPERATIONS[name]


def init_app(app) -> None:
    """Register the operations of the packages the OPERATION_PACKAGES setting names (beside the built-in ones)."""
    for package in app.config.get("OPERATION_PACKAGES") or ():
        OPERATIONS.discover(package)
