"""Outbound HTTP to addresses that users name (webhook URLs, image URLs), guarded against server-side request
forgery.

A URL's host is resolved once; every address it resolves to must be a public one (no loopback, private, link-local
with the cloud metadata services, shared, reserved or multicast address, however the URL spells it) unless the
operator lists the host or the address in WEBHOOK_ALLOW_HOSTS. The connection then goes to the checked address
itself (the host name only travels in the Host header and TLS's SNI), so a DNS answer that changes between the
check and the connection (rebinding) cannot move it, and redirects are never followed.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from pixelforge.operations import ValidationFailed

READ_CHUNK = 64 * 1024


class FetchFailed(Exception):
    """The request could not be made or answered within its limits; code names why (a 422 code on submissions)."""

    def __init__(self, message: str, code: str = "fetch_failed"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict


@dataclass(frozen=True)
class Target:
    """A URL pinned to the address it was checked at."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def allowed_hosts() -> set[str]:
    return {host.strip().lower().strip("[]") for host in str(current_app.config["WEBHOOK_ALLOW_HOSTS"] or "")
            .split(",") if host.strip()}


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything but a public unicast address (IPv4 inside IPv6 judged as the IPv4 address it carries)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None and is_internal(inner):
            return True
    return not address.is_global or address.is_multicast


def resolve(url: str, param: str) -> Target:
    """The URL pinned to a checked address; ValidationFailed (422) for a URL that is not http(s), a host that does
    not resolve, or one that resolves to an internal address the operator did not allow."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValidationFailed(f"{param} must be an http:// or https:// URL with a host", param, "invalid_url")
    host = parts.hostname.lower()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationFailed(f"{param}'s host {host} does not resolve", param, "unresolvable_host") from None
    addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
    allowed = allowed_hosts()
    for address in addresses:
        if host not in allowed and address not in allowed and is_internal(ipaddress.ip_address(address)):
            raise ValidationFailed(f"{param} points at an internal address ({address}); the server does not "
                                   "connect there (an operator may allow the host in WEBHOOK_ALLOW_HOSTS)",
                                   param, "url_refused")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, addresses[0], path)


def check_url(url: str, param: str) -> str:
    """The URL, once it resolves to addresses the server may reach (422 otherwise)."""
    resolve(url, param)
    return url


def post(url: str, body: bytes, headers: dict, timeout: float, param: str = "webhook_url") -> Answer:
    """POST body to url (pinned, no redirects); the answer with at most 1 KB of its body."""
    return _request("POST", resolve(url, param), body, headers, timeout, 1024, truncate=True)


def get(url: str, timeout: float, max_bytes: int, param: str = "image_url") -> Answer:
    """GET url (pinned, no redirects) within timeout seconds in all; FetchFailed past max_bytes."""
    return _request("GET", resolve(url, param), None, {}, timeout, max_bytes, truncate=False)


def _pool(target: Target, timeout: float):
    import urllib3

    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(target.address, target.port, timeout=limits, retries=False, maxsize=1,
                                           server_hostname=target.host, assert_hostname=target.host,
                                           cert_reqs="CERT_REQUIRED")
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, retries=False, maxsize=1)


def _request(method: str, target: Target, body: bytes | None, headers: dict, timeout: float, max_bytes: int,
             truncate: bool) -> Answer:
    import urllib3

    deadline = time.monotonic() + timeout
    pool = _pool(target, timeout)
    sent = {"host": target.host_header, "accept-encoding": "identity", "user-agent": "PixelForge/1.0", **headers}
    try:
        response = pool.urlopen(method, target.path, body=body, headers=sent, redirect=False, retries=False,
                                preload_content=False, decode_content=False, assert_same_host=False)
        try:
            data = _read(response, deadline, max_bytes, truncate)
            return Answer(response.status, data, dict(response.headers))
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        raise FetchFailed(f"{target.host} did not answer within {timeout:g} s", "fetch_timeout") from None
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"could not reach {target.host}: {type(exc).__name__}") from None
    finally:
        pool.close()


def _read(response, deadline: float, max_bytes: int, truncate: bool) -> bytes:
    declared = response.headers.get("content-length")
    if not truncate and declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"the file is {int(declared):,} bytes; the limit is {max_bytes:,}", "fetch_too_large")
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise FetchFailed("the answer took too long to arrive", "fetch_timeout")
        chunk = response.read1(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            if truncate:
                return b"".join(chunks)[:max_bytes]
            raise FetchFailed(f"the file is over the {max_bytes:,}-byte limit", "fetch_too_large")
