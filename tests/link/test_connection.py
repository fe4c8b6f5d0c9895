"""Connection strings and the pymavlink-backed link on loopback sockets."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from missions.link.connection import Endpoint, open_link, parse_connection_string
from missions.link.errors import ConnectionStringError, LinkConnectError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp:127.0.0.1:5760", Endpoint("tcp", host="127.0.0.1", port=5760)),
        ("TCP:localhost:5762", Endpoint("tcp", host="localhost", port=5762)),
        ("tcpin:0.0.0.0:5760", Endpoint("tcpin", host="0.0.0.0", port=5760)),
        ("udp:0.0.0.0:14550", Endpoint("udpin", host="0.0.0.0", port=14550)),
        ("udpin:127.0.0.1:14551", Endpoint("udpin", host="127.0.0.1", port=14551)),
        ("udpout:192.168.1.10:14550", Endpoint("udpout", host="192.168.1.10", port=14550)),
        ("/dev/ttyUSB0:57600", Endpoint("serial", device="/dev/ttyUSB0", baud=57600)),
        ("/dev/ttyACM0", Endpoint("serial", device="/dev/ttyACM0", baud=57600)),
        ("/dev/serial/by-id/usb-Holybro:921600",
         Endpoint("serial", device="/dev/serial/by-id/usb-Holybro", baud=921600)),
        ("serial:/dev/ttyS1:115200", Endpoint("serial", device="/dev/ttyS1", baud=115200)),
        ("COM3:57600", Endpoint("serial", device="COM3", baud=57600)),
        (" udp:[::1]:14550 ", Endpoint("udpin", host="::1", port=14550)),
    ],
)  # fmt: skip
def test_parse_connection_strings(url: str, expected: Endpoint) -> None:
    assert parse_connection_string(url) == expected


def test_canonical_url() -> None:
    assert parse_connection_string("udp:0.0.0.0:14550").url == "udpin:0.0.0.0:14550"
    assert parse_connection_string("/dev/ttyUSB0").url == "/dev/ttyUSB0:57600"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("http://example.com:80", "unknown scheme 'http'"),
        ("tcp:5760", "expected tcp:HOST:PORT"),
        ("udp:0.0.0.0:port", "port 'port' is not 0-65535"),
        ("tcp:127.0.0.1:70000", "port '70000' is not 0-65535"),
        ("tcp:127.0.0.1:0", "cannot connect to port 0"),
        ("tcp:my drone:5760", "host 'my drone' is not a host name or IP address"),
        ("udpout:http://10.0.0.2:14550", "host 'http://10.0.0.2' is not a host name"),
        ("tcp:10.0.0.2:5760:1", "host '10.0.0.2:5760' is not a host name"),
        ("/dev/ttyUSB0:fast", "baud rate 'fast'"),
        ("/dev/ttyUSB0:0", "baud rate '0'"),
    ],
)
def test_bad_connection_strings_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConnectionStringError, match=message):
        parse_connection_string(url)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_tcp_connection_is_a_link_error() -> None:
    port = _free_port(socket.SOCK_STREAM)
    with pytest.raises(LinkConnectError, match=f"opening tcp:127.0.0.1:{port}"):
        open_link(f"tcp:127.0.0.1:{port}", timeout=0.3)


def test_missing_serial_device_is_a_link_error() -> None:
    with pytest.raises(LinkConnectError, match="/dev/ttyNOSUCH0"):
        open_link("/dev/ttyNOSUCH0:57600", timeout=0.1)


def test_serial_link_without_pyserial_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)  # as on an install without pyserial
    with pytest.raises(LinkConnectError) as caught:
        open_link("/dev/ttyUSB0:57600", timeout=0.1)
    assert str(caught.value) == (
        "opening /dev/ttyUSB0:57600: serial links need the pyserial package (pip install pyserial)"
    )


def test_udp_links_speak_mavlink2_both_ways() -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mav

    port = _free_port(socket.SOCK_DGRAM)
    listener = open_link(f"udp:127.0.0.1:{port}")
    sender = open_link(f"udpout:127.0.0.1:{port}")
    try:
        sender.send(mav.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3))
        received = listener.recv(2.0)
        assert received is not None and received.get_type() == "HEARTBEAT"
        assert received.get_msgbuf()[0] == 0xFD  # MAVLink 2 framing
        assert (received.get_srcSystem(), received.get_srcComponent()) == (255, 190)
        # the listener answers the address it heard from
        listener.send(mav.MAVLink_statustext_message(6, b"hello"))
        answer = sender.recv(2.0)
        assert answer is not None and answer.text == "hello"
        assert listener.recv(0.05) is None
    finally:
        listener.close()
        sender.close()


def test_tcp_peer_closing_is_reported() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    link = open_link(f"tcp:127.0.0.1:{port}", timeout=2.0)
    peer, _ = server.accept()
    peer.close()
    server.close()
    try:
        with pytest.raises(LinkConnectError, match="closed the connection"):
            link.recv(1.0)
    finally:
        link.close()


def test_a_refused_tcp_port_fails_in_seconds_whatever_the_heartbeat_timeout() -> None:
    from missions.link import connect
    from missions.link.connection import REFUSED_RETRY_S

    port = _free_port(socket.SOCK_STREAM)
    started = time.monotonic()
    with pytest.raises(LinkConnectError) as caught:
        connect(f"tcp:127.0.0.1:{port}", timeout=30.0)
    assert time.monotonic() - started < REFUSED_RETRY_S + 1.5
    assert str(caught.value) == (
        f"opening tcp:127.0.0.1:{port}: connection refused: nothing listens there"
    )


def test_a_tcp_port_that_opens_a_moment_later_is_still_reached() -> None:
    """A vehicle or simulator still starting: refusals are tried again for a moment."""
    port = _free_port(socket.SOCK_STREAM)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def listen_late() -> None:
        time.sleep(0.6)
        server.bind(("127.0.0.1", port))
        server.listen(1)

    late = threading.Thread(target=listen_late)
    late.start()
    try:
        link = open_link(f"tcp:127.0.0.1:{port}", timeout=30.0)
        link.close()
    finally:
        late.join()
        server.close()


def test_a_silent_udp_address_waits_for_the_heartbeat_timeout() -> None:
    """Something listens but never answers (or every packet is lost): no refusal, so the
    heartbeat is waited for as long as the caller allows."""
    from missions.link import LinkTimeout, connect

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(LinkTimeout, match=r"no autopilot heartbeat within 3\.0 s"):
            connect(f"udpout:127.0.0.1:{port}", timeout=3.0)
        assert time.monotonic() - started >= 3.0
        assert silent.recv(512)  # our heartbeats went out


def test_an_unknown_udp_host_fails_at_once() -> None:
    with pytest.raises(LinkConnectError, match=r"^opening udpout:no-such-host\.invalid:14550: "):
        open_link("udpout:no-such-host.invalid:14550", timeout=30.0)
