"""Which URLs a webhook may be sent to: no server-side request forgery.

A webhook URL is ``http`` or ``https``, names a host, and holds no user or password (it is
stored and shown). Its host must be a public address: private (10/8, 172.16/12,
192.168/16, fc00::/7), loopback, link-local (169.254/16, where clouds serve their
metadata; fe80::/10), shared (100.64/10), multicast, reserved or unspecified addresses are
refused, and so are IPv6 addresses that wrap one (``::ffff:127.0.0.1``). The check runs
three times:

- at registration, on the URL's address, or on every address its name resolves to now;
- at each attempt, after resolving the name again: the delivery connects to the address
  that was checked (``resolve_target``), so a name that changes between the check and the
  connection (DNS rebinding) gains nothing;
- redirects are never followed: a ``3xx`` answer is a failed attempt.

``XDMC_WEBHOOK_ALLOW_PRIVATE=true`` lifts the address check, for development and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from xdm_connector.errors import InvalidInput

WEBHOOK_URL = "XDMC-WEBHOOK-URL"
"""The webhook URL is no ``http(s)`` URL, or names an address webhooks may not reach."""
MAX_URL_LENGTH = 2048
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(InvalidInput):
    """A webhook URL the connector will not send to."""

    code = WEBHOOK_URL


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the checked address, and the URL's own host name (for
    the ``Host`` header and the TLS server name)."""

    url: str
    """The URL with its host replaced by the checked address."""
    host: str
    """The URL's host name, the TLS server name."""
    host_header: str
    """The URL's host and port, as the ``Host`` header names them."""
    address: str


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """``url`` if webhooks may be sent there, else ``TargetRefused`` saying why.

    A name is resolved (``resolve``) and refused if any of its addresses is not public; a
    name that does not resolve now is taken, and checked again at each attempt.
    """
    parts = _parts(url)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        _check_address(literal, allow_private)
    elif resolve and not allow_private:
        try:
            addresses = _resolve(host, parts.port)
        except OSError:
            return url
        for address in addresses:
            _check_address(address, allow_private)
    return url


def resolve_target(url: str, *, allow_private: bool) -> Target:
    """The address an attempt to ``url`` connects to: the first its name resolves to, now,
    checked. ``TargetRefused`` when it may not be reached; ``OSError`` when the name does
    not resolve."""
    parts = _parts(url)
    host = parts.hostname or ""
    literal = _literal(host)
    addresses = [literal] if literal is not None else _resolve(host, parts.port)
    if not addresses:
        raise OSError(f"{host} has no address")
    address = addresses[0]
    _check_address(address, allow_private)
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    return Target(
        url=parts._replace(netloc=netloc).geturl(),
        host=host,
        host_header=parts.netloc,
        address=str(address),
    )


def _parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise TargetRefused("the webhook URL is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("a webhook URL starts with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the webhook URL names no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL holds no user or password")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise TargetRefused("a webhook URL holds no space or control character")
    return parts


def _literal(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int | None) -> list[_Address]:
    found = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    addresses: list[_Address] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def is_public(address: _Address) -> bool:
    """Whether webhooks may reach ``address`` without ``XDMC_WEBHOOK_ALLOW_PRIVATE``."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = address.ipv4_mapped or address.sixtofour or _teredo_client(address)
        if wrapped is not None and not is_public(wrapped):
            return False
    return address.is_global and not address.is_multicast


def _teredo_client(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    teredo = address.teredo
    return None if teredo is None else teredo[1]


def _check_address(address: _Address, allow_private: bool) -> None:
    if not allow_private and not is_public(address):
        raise TargetRefused(
            f"webhooks may not be sent to {address}: a private, loopback, link-local or "
            "reserved address (XDMC_WEBHOOK_ALLOW_PRIVATE=true allows it, for development)"
        )
