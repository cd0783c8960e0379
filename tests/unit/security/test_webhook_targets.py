"""Webhook URLs: only http(s), no credentials, and no address inside the network unless
the operator allows it; the address an attempt connects to is the one checked."""

from __future__ import annotations

import pytest

from xdm_connector.security.webhook_targets import (
    WEBHOOK_URL,
    TargetRefused,
    check_url,
    resolve_target,
)

INSIDE = [
    "http://127.0.0.1/hook",
    "http://127.9.9.9:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://[::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
    "http://localhost:8080/hook",  # a name: its addresses are checked
]
MALFORMED = [
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "https:///no-host",
    "https://user:s3cret@example.com/hook",
    "https://example.com:notaport/hook",
    "https://example.com/a b",
    "not a url",
    "https://example.com/" + "a" * 2100,
]


@pytest.mark.parametrize("url", INSIDE)
def test_addresses_inside_the_network_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_url(url, allow_private=False)
    assert refused.value.code == WEBHOOK_URL
    with pytest.raises(TargetRefused):
        resolve_target(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", MALFORMED)
def test_what_is_no_webhook_url_is_refused_even_when_private_addresses_are_allowed(
    url: str,
) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_url(url, allow_private=True)
    assert refused.value.code == WEBHOOK_URL
    assert "s3cret" not in refused.value.message


def test_a_public_address_is_taken_without_resolving_anything() -> None:
    assert check_url("https://hooks.example.com/x", allow_private=False, resolve=False)
    assert check_url("https://8.8.8.8/hook", allow_private=False) == "https://8.8.8.8/hook"
    target = resolve_target("https://8.8.8.8:8443/hook?x=1", allow_private=False)
    assert (target.url, target.address) == ("https://8.8.8.8:8443/hook?x=1", "8.8.8.8")


def test_an_attempt_connects_to_the_address_it_checked_with_the_urls_host() -> None:
    target = resolve_target("http://localhost:8080/hook?x=1", allow_private=True)
    assert target.address in ("127.0.0.1", "::1")
    shown = "[::1]" if target.address == "::1" else target.address
    assert target.url == f"http://{shown}:8080/hook?x=1"
    assert (target.host, target.host_header) == ("localhost", "localhost:8080")
    v6 = resolve_target("http://[::1]:81/h", allow_private=True)
    assert (v6.url, v6.host_header) == ("http://[::1]:81/h", "[::1]:81")
