"""Connection strings → a MAVLink 2 link: the one door to pymavlink's transports.

The rest of :mod:`missions.link` sees only the small :class:`Link` protocol (send a message,
receive one with a timeout, close), so tests can swap in an in-memory link and production can use
TCP, UDP or a serial telemetry radio. Message classes and enums come from :data:`dialect`,
ArduPilot's MAVLink 2 dialect, imported here so that no other module needs pymavlink.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as dialect

from gis.messages import msg
from missions.link.errors import ConnectionStringError, LinkConnectError, LinkLost

__all__ = [
    "Endpoint",
    "Link",
    "MavlinkLink",
    "Message",
    "REFUSED_RETRY_S",
    "dialect",
    "open_link",
    "parse_connection_string",
]

#: A decoded MAVLink message (a pymavlink ``MAVLink_message``); typed loosely on purpose.
Message = Any

Kind = Literal["tcp", "tcpin", "udpin", "udpout", "serial"]

#: Our own identity on the link: a ground station (system 255, component MISSIONPLANNER 190).
GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = 190
DEFAULT_BAUD = 57600

_SCHEMES: dict[str, Kind] = {
    "tcp": "tcp",
    "tcpin": "tcpin",
    "udp": "udpin",  # `udp:HOST:PORT` listens, as in MAVProxy and Mission Planner
    "udpin": "udpin",
    "udpout": "udpout",
}
_HOST_NAME_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
_SERIAL_RE = re.compile(r"^(?:serial:)?(?P<device>/dev/[^:]+|COM\d+)(?::(?P<baud>[^:]+))?$", re.I)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed connection string: a network endpoint (host, port) or a serial device and baud."""

    kind: Kind
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = 0

    @property
    def url(self) -> str:
        """The canonical connection string: ``udpin:0.0.0.0:14550``, ``/dev/ttyUSB0:57600``."""
        if self.kind == "serial":
            return f"{self.device}:{self.baud}"
        return f"{self.kind}:{self.host}:{self.port}"


def parse_connection_string(url: str) -> Endpoint:
    """Parse ``tcp:HOST:PORT``, ``tcpin:``, ``udp:HOST:PORT`` (listen), ``udpin:``, ``udpout:``, or
    a serial device ``/dev/ttyUSB0[:BAUD]`` / ``COM3[:BAUD]`` (default 57600 baud)."""
    text = url.strip()
    if not text:
        raise ConnectionStringError(msg("connection string is empty; try tcp:127.0.0.1:5760"))
    serial = _SERIAL_RE.match(text)
    if serial:
        baud_text = serial.group("baud")
        baud = DEFAULT_BAUD
        if baud_text is not None:
            if not baud_text.isdigit() or int(baud_text) <= 0:
                raise ConnectionStringError(
                    msg(
                        "connection string %(url)r: baud rate %(baud)r is not a positive integer",
                        url=url,
                        baud=baud_text,
                    )
                )
            baud = int(baud_text)
        return Endpoint(kind="serial", device=serial.group("device"), baud=baud)
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in _SCHEMES:
        known = ", ".join(sorted(_SCHEMES))
        raise ConnectionStringError(
            msg(
                "connection string %(url)r: unknown scheme %(scheme)r; use one of %(known)s or a "
                "serial device such as /dev/ttyUSB0:57600",
                url=url,
                scheme=scheme,
                known=known,
            )
        )
    kind = _SCHEMES[scheme.lower()]
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host:
        raise ConnectionStringError(
            msg("connection string %(url)r: expected %(scheme)s:HOST:PORT", url=url, scheme=scheme)
        )
    host = host.strip("[]")
    if not _is_host(host):
        raise ConnectionStringError(
            msg(
                "connection string %(url)r: host %(host)r is not a host name or IP address",
                url=url,
                host=host,
            )
        )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConnectionStringError(
            msg("connection string %(url)r: port %(port)r is not 0-65535", url=url, port=port_text)
        )
    port = int(port_text)
    if port == 0 and kind in ("tcp", "udpout"):
        raise ConnectionStringError(
            msg("connection string %(url)r: cannot connect to port 0", url=url)
        )
    return Endpoint(kind=kind, host=host, port=port)


def _is_host(host: str) -> bool:
    """Whether ``host`` can name a machine: an IP address (IPv6 with an optional ``%zone``) or
    a host name of letters, digits, ``-`` and ``_`` between dots (no spaces, no URL parts)."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return bool(_HOST_NAME_RE.fullmatch(host))


class Link(Protocol):
    """The seam: one MAVLink 2 conversation with a vehicle (or a test double)."""

    def send(self, message: Message) -> None:
        """Pack and send one message from our GCS identity."""

    def recv(self, timeout: float) -> Message | None:
        """The next decoded message, or None when nothing arrives within ``timeout`` seconds."""

    def close(self) -> None:
        """Release the transport."""


class MavlinkLink:
    """A :class:`Link` over a pymavlink transport, forced to MAVLink 2 without touching globals."""

    def __init__(self, connection: Any, *, endpoint: Endpoint) -> None:
        self._conn = connection
        self.endpoint = endpoint
        self._closed_by_peer = False
        self.heard = False  # a MAVLink message was received (the peer speaks MAVLink)
        # Force MAVLink 2 on this connection only (pymavlink picks it by environment variable).
        connection.mav = dialect.MAVLink(
            connection,
            srcSystem=connection.source_system,
            srcComponent=connection.source_component,
        )
        connection.mav.robust_parsing = True
        connection.first_byte = False
        connection.WIRE_PROTOCOL_VERSION = "2.0"
        # pymavlink prints and retries forever on EOF; turn it into an error instead.
        connection.handle_eof = self._peer_closed
        connection.handle_disconnect = self._peer_closed

    def _peer_closed(self) -> None:
        self._closed_by_peer = True

    @property
    def lost(self) -> bool:
        """Whether the peer closed the connection (every later send or recv raises LinkLost)."""
        return self._closed_by_peer

    def _raise_if_lost(self) -> None:
        if not self._closed_by_peer:
            return
        if not self.heard:  # e.g. a web server, which closes on the first bytes it cannot parse
            raise LinkLost(
                msg(
                    "no MAVLink heartbeat from %(url)s (it closed the connection); is an "
                    "autopilot there?",
                    url=self.endpoint.url,
                )
            )
        raise LinkLost(msg("%(url)s: the vehicle closed the connection", url=self.endpoint.url))

    def send(self, message: Message) -> None:
        """Send one message; LinkLost when the connection has dropped (pymavlink swallows a
        broken pipe on TCP and only reports it through ``handle_disconnect``)."""
        self._raise_if_lost()
        try:
            self._conn.mav.send(message)
        except OSError as exc:
            raise LinkLost(
                msg(
                    "sending %(what)s on %(url)s: %(reason)s",
                    what=message.get_type(),
                    url=self.endpoint.url,
                    reason=_os_reason(exc),
                )
            ) from exc
        self._raise_if_lost()

    def recv(self, timeout: float) -> Message | None:
        """The next message, None after ``timeout`` s of silence, LinkLost when the connection
        has dropped."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._raise_if_lost()
            try:
                message = self._conn.recv_msg()
            except OSError as exc:
                raise LinkLost(
                    msg(
                        "receiving on %(url)s: %(reason)s",
                        url=self.endpoint.url,
                        reason=_os_reason(exc),
                    )
                ) from exc
            self._raise_if_lost()
            if message is not None:
                if message.get_type() != "BAD_DATA":
                    self.heard = True
                    return message
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._conn.select(min(remaining, 0.05))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()


class _TcpClient(mavutil.mavtcp):
    """pymavlink's TCP client, but its connect gives up after ``connect_timeout`` seconds (a
    blocking connect to a host that does not answer waits minutes for the kernel)."""

    def __init__(self, address: str, *, connect_timeout: float, **ids: int) -> None:
        self._connect_timeout = connect_timeout
        super().__init__(address, retries=0, **ids)

    def do_connect(self) -> None:
        self.port = socket.create_connection(self.destination_addr, timeout=self._connect_timeout)
        self.port.setblocking(False)
        self.port.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: How long a refused connection (nothing listens on the port) is tried again, for a vehicle
#: or simulator that is just starting; then it fails, however long the heartbeat may take.
#: Silence is different: a connect nobody answers, or a vehicle whose packets are dropped,
#: is waited for up to the caller's timeout.
REFUSED_RETRY_S = 2.0


def open_link(
    url: str | Endpoint,
    *,
    timeout: float = 10.0,
    source_system: int = GCS_SYSTEM_ID,
    source_component: int = GCS_COMPONENT_ID,
) -> MavlinkLink:
    """Open the transport a connection string names. A refused TCP connect is retried for
    :data:`REFUSED_RETRY_S` (at most ``timeout``); a connect that gets no answer waits up to
    ``timeout`` (at least 0.5 s). A ``udpout`` link keeps pymavlink's unconnected socket, so a
    vehicle answering from another port is heard; a port nobody listens on is then only silence,
    waited for up to the caller's heartbeat timeout."""
    endpoint = url if isinstance(url, Endpoint) else parse_connection_string(url)
    ids = {"source_system": source_system, "source_component": source_component}
    started = time.monotonic()
    deadline = started + timeout
    refused_until = started + min(timeout, REFUSED_RETRY_S)
    while True:
        try:
            if endpoint.kind == "serial":
                conn = mavutil.mavlink_connection(endpoint.device, baud=endpoint.baud, **ids)
            elif endpoint.kind == "tcp":
                wait = max(0.5, deadline - time.monotonic())
                conn = _TcpClient(f"{endpoint.host}:{endpoint.port}", connect_timeout=wait, **ids)
            else:
                if endpoint.kind == "udpout":  # pymavlink resolves it only on every send
                    socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_DGRAM)
                conn = mavutil.mavlink_connection(endpoint.url, retries=0, **ids)
            return MavlinkLink(conn, endpoint=endpoint)
        except ImportError as exc:  # pymavlink imports pyserial only for serial links
            raise LinkConnectError(
                msg(
                    "opening %(url)s: serial links need the pyserial package (pip install "
                    "pyserial)",
                    url=endpoint.url,
                )
            ) from exc
        except (OSError, socket.gaierror, ValueError) as exc:
            retryable = endpoint.kind == "tcp" and isinstance(exc, ConnectionRefusedError)
            if not retryable or time.monotonic() >= refused_until:
                raise LinkConnectError(
                    msg("opening %(url)s: %(reason)s", url=endpoint.url, reason=_os_reason(exc))
                ) from exc
            time.sleep(0.2)
        except Exception as exc:  # pyserial raises its own SerialException (not an OSError)
            raise LinkConnectError(
                msg("opening %(url)s: %(reason)s", url=endpoint.url, reason=exc)
            ) from exc


#: Common socket failures, as translatable messages (others keep the system's words).
_OS_REASONS: dict[type[OSError], Any] = {
    ConnectionRefusedError: msg("connection refused: nothing listens there"),
    ConnectionResetError: msg("connection reset by the vehicle"),
    BrokenPipeError: msg("the connection broke"),
    TimeoutError: msg("timed out"),
}


def _os_reason(exc: BaseException) -> Any:
    """A socket error's reason for a pilot: a translatable message for the common ones."""
    for kind, reason in _OS_REASONS.items():
        if isinstance(exc, kind):
            return reason
    return exc
