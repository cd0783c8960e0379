"""The socket a server inherits (``--fd``), and the address it says it listens on."""

from __future__ import annotations

import os
import socket

import pytest

from xdm_connector.errors import InvalidInput
from xdm_connector.serving import inherited_socket, url_of


def test_a_bound_tcp_socket_is_served_at_its_address() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        served = inherited_socket(os.dup(listening.fileno()))
        with served:
            assert (served.family, served.type) == (socket.AF_INET, socket.SOCK_STREAM)
            assert url_of(served.getsockname()) == f"http://127.0.0.1:{port}"


def test_an_ipv6_address_is_bracketed() -> None:
    assert url_of(("::1", 8080, 0, 0)) == "http://[::1]:8080"


def test_what_is_not_a_bound_tcp_socket_is_refused() -> None:
    reading, writing = os.pipe()
    try:
        with pytest.raises(InvalidInput, match=f"file descriptor {reading} is not an open socket"):
            inherited_socket(reading)
    finally:
        os.close(reading)
        os.close(writing)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagrams:
        datagrams.bind(("127.0.0.1", 0))
        with pytest.raises(InvalidInput, match="is not a TCP socket"):
            inherited_socket(datagrams.fileno())
        assert datagrams.fileno() >= 0  # left open for its owner
    with socket.socket() as unbound:
        with pytest.raises(InvalidInput, match="is not bound to a port"):
            inherited_socket(unbound.fileno())
        assert unbound.fileno() >= 0
