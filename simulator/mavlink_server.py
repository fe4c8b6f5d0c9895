"""MAVLink over sockets: a TCP server for several ground stations at once plus an optional UDP
output, with the message routing, mission protocol and parameter protocol of ArduCopter.

pymavlink's generated ardupilotmega dialect (MAVLink 2) is used only as an encoder/decoder over our
own non-blocking sockets; the server is polled from the simulator's single stepping thread, so
nothing here needs a lock. Protocol timeouts (item re-requests) run on the wall clock because they
are about the network, not about the simulated vehicle.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from gis.messages import counted
from simulator.autopilot import (
    _GLOBAL_FRAMES,
    CMD_DO_CHANGE_SPEED,
    CMD_DO_DIGICAM_CONTROL,
    CMD_DO_SET_CAM_TRIGG_DIST,
    CMD_DO_SET_HOME,
    CMD_LAND,
    CMD_RTL,
    CMD_TAKEOFF,
    EKF_FAILSAFE_S,
    ArmedChanged,
    Autopilot,
    CameraTrigger,
    CurrentChanged,
    Event,
    HomeChanged,
    ItemReached,
    Mode,
    ModeChanged,
    Severity,
    StoredItem,
    Text,
)
from simulator.clock import SimClock
from simulator.errors import ParameterError, SimulatorConfigError
from simulator.physics import attitude

__all__ = ["Endpoint", "parse_endpoint", "MavlinkServer"]

log = logging.getLogger(__name__)

M = mavlink
_MAX_BACKLOG = 1 << 20  # bytes queued for one client before periodic messages are skipped
_MAX_WALL_RATE_HZ = 50.0  # cap on any one stream per client, in wall-clock messages per second
_RETRY_WALL_S = 0.5
_MAX_RETRIES = 12
_MAX_ITEMS = 10000
_FORCE_MAGIC = 21196

# MAV_RESULT
ACCEPTED, TEMP_REJECTED, DENIED, UNSUPPORTED, FAILED = 0, 1, 2, 3, 4
# MAV_MISSION_RESULT
MISSION_ACCEPTED, MISSION_ERROR, MISSION_NO_SPACE, MISSION_INVALID_SEQUENCE = 0, 1, 4, 13
MISSION_DENIED, MISSION_OPERATION_CANCELLED = 14, 15

#: REQUEST_DATA_STREAM groups as ArduCopter defines them (for the messages we produce).
STREAMS: dict[int, tuple[int, ...]] = {
    1: (),  # RAW_SENSORS
    2: (
        M.MAVLINK_MSG_ID_SYS_STATUS,
        M.MAVLINK_MSG_ID_GPS_RAW_INT,
        M.MAVLINK_MSG_ID_MISSION_CURRENT,
        M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
    ),
    3: (),  # RC_CHANNELS
    6: (M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    10: (M.MAVLINK_MSG_ID_ATTITUDE,),
    11: (M.MAVLINK_MSG_ID_VFR_HUD,),
    12: (
        M.MAVLINK_MSG_ID_SYSTEM_TIME,
        M.MAVLINK_MSG_ID_BATTERY_STATUS,
        M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
    ),
}
STREAMS[0] = tuple(sorted({msg for group in STREAMS.values() for msg in group}))
_STREAM_PARAMS = {
    2: "MAV1_EXT_STAT",
    6: "MAV1_POSITION",
    10: "MAV1_EXTRA1",
    11: "MAV1_EXTRA2",
    12: "MAV1_EXTRA3",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed connection string: 'tcp' or 'udp', host and port (0 = pick a free port)."""

    kind: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.host}:{self.port}"


def parse_endpoint(text: str, *, kinds: tuple[str, ...]) -> Endpoint:
    """Parse 'tcp:HOST:PORT' / 'udp:HOST:PORT'; a bad string raises SimulatorConfigError."""
    parts = str(text).split(":")
    if len(parts) != 3 or parts[0] not in kinds:
        raise SimulatorConfigError(
            f"connection {text!r}: expected {' or '.join(k + ':HOST:PORT' for k in kinds)}"
        )
    kind, host, port_text = parts
    try:
        port = int(port_text)
    except ValueError:
        raise SimulatorConfigError(
            f"connection {text!r}: port {port_text!r} is not a number"
        ) from None
    if not 0 <= port <= 65535 or not host:
        raise SimulatorConfigError(f"connection {text!r}: host or port out of range")
    return Endpoint(kind, host, port)


class _Writer:
    """File-like sink pymavlink's encoder writes packed bytes into."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data


@dataclass(eq=False)
class _Link:
    """One peer: a TCP client or the UDP output, with its own encoder, parser and stream rates."""

    name: str
    sock: socket.socket
    mav: mavlink.MAVLink
    writer: _Writer
    udp_peer: tuple[str, int] | None = None
    intervals: dict[int, float] = field(default_factory=dict)  # msg id -> simulated seconds
    next_due: dict[int, float] = field(default_factory=dict)
    closed: bool = False

    def send(self, message: mavlink.MAVLink_message, *, optional: bool = False) -> None:
        if self.closed or (optional and len(self.writer.buffer) > _MAX_BACKLOG):
            return
        self.mav.send(message)


@dataclass
class _Upload:
    """An upload in progress for one mission type."""

    link: _Link
    sysid: int
    compid: int
    mission_type: int
    count: int
    items: list[StoredItem | None]
    next_seq: int = 0
    legacy: bool = False
    requested_at: float = 0.0
    retries: int = 0


def _clean_text(text: str) -> bytes:
    return text.encode("ascii", "replace")


class MavlinkServer:
    """Sockets plus protocol handling for one :class:`~simulator.autopilot.Autopilot`."""

    def __init__(
        self,
        autopilot: Autopilot,
        clock: SimClock,
        *,
        listen: str = "tcp:127.0.0.1:5760",
        out: str | None = None,
        sysid: int = 1,
        compid: int = 1,
        on_param: Callable[[str, float], None] | None = None,
        uid: int | None = None,
    ) -> None:
        self.autopilot = autopilot
        # the board's serial number, as AUTOPILOT_VERSION.uid: one per simulated vehicle
        self.uid = secrets.randbits(63) + 1 if uid is None else int(uid)
        if not 0 < self.uid < 2**64:
            raise SimulatorConfigError(f"vehicle uid must be in 1..2^64-1, got {uid}")
        self.clock = clock
        self.sysid, self.compid = int(sysid), int(compid)
        if not (1 <= self.sysid <= 255 and 0 <= self.compid <= 255):
            raise SimulatorConfigError(f"system id {sysid} / component id {compid} out of range")
        self.listen = parse_endpoint(listen, kinds=("tcp",))
        self.out = parse_endpoint(out, kinds=("udp",)) if out else None
        self.on_param = on_param
        self.links: list[_Link] = []
        self.selector = selectors.DefaultSelector()
        self._server: socket.socket | None = None
        self._uploads: dict[int, _Upload] = {}
        self.messages_sent = 0
        self.bound: Endpoint | None = None
        self._heartbeat_interval = self._capped(1.0)
        self._next_heartbeat = 0.0
        self._builders: dict[int, Callable[[], mavlink.MAVLink_message]] = {
            M.MAVLINK_MSG_ID_HEARTBEAT: self.heartbeat,
            M.MAVLINK_MSG_ID_SYS_STATUS: self.sys_status,
            M.MAVLINK_MSG_ID_GPS_RAW_INT: self.gps_raw_int,
            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self.global_position_int,
            M.MAVLINK_MSG_ID_ATTITUDE: self.attitude,
            M.MAVLINK_MSG_ID_VFR_HUD: self.vfr_hud,
            M.MAVLINK_MSG_ID_HOME_POSITION: self.home_position,
            M.MAVLINK_MSG_ID_MISSION_CURRENT: self.mission_current,
            M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self.extended_sys_state,
            M.MAVLINK_MSG_ID_SYSTEM_TIME: self.system_time,
            M.MAVLINK_MSG_ID_BATTERY_STATUS: self.battery_status,
            M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: self.ekf_status_report,
            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: self.autopilot_version,
            M.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS: self.camera_capture_status,
        }

    # ---- sockets -------------------------------------------------------------------------------

    def open(self) -> Endpoint:
        """Bind the TCP server (and the UDP output); returns the bound TCP endpoint."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.listen.host, self.listen.port))
        except OSError as exc:
            server.close()
            raise SimulatorConfigError(f"cannot listen on {self.listen}: {exc}") from None
        server.listen(8)
        server.setblocking(False)
        self._server = server
        self.selector.register(server, selectors.EVENT_READ, None)
        host, port = server.getsockname()[:2]
        self.bound = Endpoint("tcp", host, port)
        if self.out is not None:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setblocking(False)
            try:
                peer = socket.getaddrinfo(
                    self.out.host, self.out.port, socket.AF_INET, socket.SOCK_DGRAM
                )[0][4]
            except OSError as exc:
                udp.close()
                raise SimulatorConfigError(f"cannot resolve UDP output {self.out}: {exc}") from None
            link = self._new_link(
                f"udp:{self.out.host}:{self.out.port}", udp, udp_peer=(peer[0], peer[1])
            )
            self.selector.register(udp, selectors.EVENT_READ, link)
        return self.bound

    def _new_link(
        self, name: str, sock: socket.socket, *, udp_peer: tuple[str, int] | None = None
    ) -> _Link:
        writer = _Writer()
        mav = mavlink.MAVLink(writer, srcSystem=self.sysid, srcComponent=self.compid)
        mav.robust_parsing = True
        link = _Link(name=name, sock=sock, mav=mav, writer=writer, udp_peer=udp_peer)
        for stream, param in _STREAM_PARAMS.items():
            rate = self.autopilot.params[param]
            if rate > 0:
                self._set_stream(link, stream, rate)
        self.links.append(link)
        log.info("link %s connected", name)
        return link

    def close(self) -> None:
        for link in list(self.links):
            self._drop(link)
        if self._server is not None:
            self.selector.unregister(self._server)
            self._server.close()
            self._server = None
        self.selector.close()

    def _drop(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(link.sock)
        link.sock.close()
        if link in self.links:
            self.links.remove(link)
        for mission_type, upload in list(self._uploads.items()):
            if upload.link is link:
                del self._uploads[mission_type]
        log.info("link %s closed", link.name)

    def poll(self, timeout: float) -> None:
        """Accept, read and handle what has arrived (waiting up to `timeout`), then flush output."""
        for key, _ in self.selector.select(timeout=max(0.0, timeout)):
            if key.data is None:
                self._accept()
            else:
                self._read(key.data)
        self._check_uploads()
        self.flush()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, address = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = self._new_link(f"tcp:{address[0]}:{address[1]}", conn)
            self.selector.register(conn, selectors.EVENT_READ, link)
            self._send_heartbeat(link)

    def _read(self, link: _Link) -> None:
        try:
            data = link.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(link)
            return
        if not data:
            if link.udp_peer is None:
                self._drop(link)
            return
        try:
            messages = link.mav.parse_buffer(data) or []
        except mavlink.MAVError as exc:
            log.debug("link %s: undecodable data: %s", link.name, exc)
            return
        for message in messages:
            if message.get_type() == "BAD_DATA":
                continue
            try:
                self.handle(link, message)
            except Exception:  # a malformed request must not kill the vehicle
                log.exception("link %s: error handling %s", link.name, message.get_type())

    def flush(self) -> None:
        for link in list(self.links):
            buffer = link.writer.buffer
            if not buffer:
                continue
            if link.udp_peer is not None:
                self._flush_udp(link)
                continue
            try:
                sent = link.sock.send(buffer)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._drop(link)
                continue
            del buffer[:sent]

    def _flush_udp(self, link: _Link) -> None:
        buffer = link.writer.buffer
        # Send packet by packet: MAVLink over UDP is one or more whole packets per datagram.
        while buffer:
            chunk = _whole_packets(buffer, 1400)
            try:
                link.sock.sendto(bytes(buffer[:chunk]), link.udp_peer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                pass  # nobody listening yet: UDP output is best effort
            del buffer[:chunk]

    # ---- outgoing ------------------------------------------------------------------------------

    def _broadcast(self, message: mavlink.MAVLink_message, *, optional: bool = False) -> None:
        for link in self.links:
            link.send(message, optional=optional)
            self.messages_sent += 1

    def _reply(self, link: _Link, message: mavlink.MAVLink_message) -> None:
        link.send(message)
        self.messages_sent += 1

    def publish(self, events: list[Event]) -> None:
        """Send what the autopilot reported in the last step to every client."""
        for event in events:
            if isinstance(event, Text):
                for message in self._statustext(event.severity, event.text):
                    self._broadcast(message)
            elif isinstance(event, ArmedChanged):
                self._broadcast(self.heartbeat())
                self._send_position_now()
            elif isinstance(event, ModeChanged):
                self._broadcast(self.heartbeat())
            elif isinstance(event, ItemReached):
                self._broadcast(M.MAVLink_mission_item_reached_message(event.seq))
            elif isinstance(event, CurrentChanged):
                self._broadcast(self.mission_current())
            elif isinstance(event, HomeChanged):
                self._broadcast(self.home_position())
            elif isinstance(event, CameraTrigger):
                self._broadcast(self.camera_feedback(event))

    def _send_position_now(self) -> None:
        """GLOBAL_POSITION_INT at once to every client streaming it, right behind the heartbeat
        of an arm-state change: sped up, the next streamed one may come many vehicle seconds
        later, and a ground station must learn the height at a disarm (a landing or a fall)."""
        message = self.global_position_int()
        for link in self.links:
            if M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT in link.intervals:
                self._reply(link, message)

    def send_periodic(self) -> None:
        """Heartbeats and the requested streams that are due at the current simulated time."""
        now = self.clock.now
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._heartbeat_interval
            self._broadcast(self.heartbeat(), optional=True)
        for link in self.links:
            for msg_id, interval in link.intervals.items():
                due = link.next_due.get(msg_id, 0.0)
                if now < due:
                    continue
                link.next_due[msg_id] = (
                    max(due + interval, now) if now - due < interval else now + interval
                )
                message = self.build(msg_id)
                if message is not None:
                    link.send(message, optional=True)
                    self.messages_sent += 1

    def _send_heartbeat(self, link: _Link) -> None:
        self._reply(link, self.heartbeat())

    def _statustext(self, severity: int, text: str) -> list[mavlink.MAVLink_message]:
        data = _clean_text(text)
        if len(data) <= 50:
            return [M.MAVLink_statustext_message(severity, data, 0, 0)]
        chunks = [data[i : i + 50] for i in range(0, len(data), 50)]
        ident = (hash(text) & 0xFFFE) + 1
        return [
            M.MAVLink_statustext_message(severity, chunk, ident, n)
            for n, chunk in enumerate(chunks)
        ]

    def say_to(self, link: _Link, text: str, severity: int = Severity.INFO) -> None:
        for message in self._statustext(int(severity), text):
            self._reply(link, message)

    # ---- message builders ----------------------------------------------------------------------

    def build(self, msg_id: int) -> mavlink.MAVLink_message | None:
        builder = self._builders.get(msg_id)
        return builder() if builder is not None else None

    def heartbeat(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        base = M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | M.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        base |= M.MAV_MODE_FLAG_STABILIZE_ENABLED
        if ap.mode in (Mode.AUTO, Mode.GUIDED, Mode.RTL, Mode.LAND, Mode.LOITER, Mode.BRAKE):
            base |= M.MAV_MODE_FLAG_GUIDED_ENABLED
        if ap.mode == Mode.AUTO:
            base |= M.MAV_MODE_FLAG_AUTO_ENABLED
        if ap.armed:
            base |= M.MAV_MODE_FLAG_SAFETY_ARMED
        status = M.MAV_STATE_ACTIVE if ap.armed else M.MAV_STATE_STANDBY
        if ap.armed and ap.in_failsafe:
            status = M.MAV_STATE_CRITICAL
        return M.MAVLink_heartbeat_message(
            M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA, base, int(ap.mode), status, 3
        )

    def sys_status(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        sensors = (
            M.MAV_SYS_STATUS_SENSOR_3D_GYRO
            | M.MAV_SYS_STATUS_SENSOR_3D_ACCEL
            | M.MAV_SYS_STATUS_SENSOR_3D_MAG
            | M.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
            | M.MAV_SYS_STATUS_SENSOR_GPS
            | M.MAV_SYS_STATUS_AHRS
            | M.MAV_SYS_STATUS_SENSOR_BATTERY
            | M.MAV_SYS_STATUS_PREARM_CHECK
        )
        health = sensors
        if not ap.gps_ok:
            health &= ~M.MAV_SYS_STATUS_SENSOR_GPS
        if not ap.position_ok:
            health &= ~M.MAV_SYS_STATUS_AHRS
        if not ap.prearm_ok:
            health &= ~M.MAV_SYS_STATUS_PREARM_CHECK
        remaining = round(100 * ap.state.remaining_fraction(ap.airframe.capacity_mah))
        voltage_mv, current_ca = int(ap.state.voltage * 1000), int(ap.state.current_a * 100)
        return M.MAVLink_sys_status_message(
            sensors, sensors, health, 200, voltage_mv, current_ca, remaining, 0, 0, 0, 0, 0, 0
        )

    def gps_raw_int(self) -> mavlink.MAVLink_message:
        """The receiver's view: acquiring (no fix, a few satellites) until SIM_GPS_DELAY, a 3D
        fix after, and with SIM_GPS_DISABLE no GPS at all (fix 0, no position, no satellites)."""
        ap = self.autopilot
        usec = int(self.clock.unix_time(ap.now) * 1e6)
        if ap.params["SIM_GPS_DISABLE"]:
            return M.MAVLink_gps_raw_int_message(usec, 0, 0, 0, 0, 65535, 65535, 0, 0, 0)
        lat, lon, amsl, _ = ap.position()
        fix = 3 if ap.gps_ok else 1
        course = math.degrees(math.atan2(ap.state.vx, ap.state.vy)) % 360.0
        return M.MAVLink_gps_raw_int_message(
            usec,
            fix,
            round(lat * 1e7),
            round(lon * 1e7),
            int(amsl * 1000),
            121,
            200,
            int(ap.state.ground_speed * 100),
            int(course * 100),
            14 if ap.gps_ok else 3,
        )

    def ekf_status_report(self) -> mavlink.MAVLink_message:
        """EKF3's status like ArduPilot's: a full solution with a position; attitude and height
        only, in constant position mode, before the first fix and once dead reckoning after a
        GPS loss has run out, with the horizontal variances growing from the loss on."""
        ap = self.autopilot
        flags = M.EKF_ATTITUDE | M.EKF_VELOCITY_VERT | M.EKF_POS_VERT_ABS
        if ap.position_ok:
            flags |= (
                M.EKF_VELOCITY_HORIZ
                | M.EKF_POS_HORIZ_REL
                | M.EKF_POS_HORIZ_ABS
                | M.EKF_PRED_POS_HORIZ_REL
                | M.EKF_PRED_POS_HORIZ_ABS
            )
        else:
            flags |= M.EKF_CONST_POS_MODE
        lost = ap.gps_lost_s
        horizontal = 0.05 if lost is None else min(2.0, 0.05 + lost / EKF_FAILSAFE_S)
        return M.MAVLink_ekf_status_report_message(
            flags, horizontal, horizontal, 0.05, 0.02, 0.0, 0.0
        )

    def global_position_int(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        lat, lon, amsl, relative = ap.estimated_position()
        s = ap.state
        return M.MAVLink_global_position_int_message(
            self.clock.time_boot_ms,
            round(lat * 1e7),
            round(lon * 1e7),
            int(amsl * 1000),
            int(relative * 1000),
            int(s.vy * 100),
            int(s.vx * 100),
            int(-s.vz * 100),
            int(s.yaw_deg * 100) % 36000,
        )

    def attitude(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        roll, pitch = attitude(ap.state, ap.wind, ap.airframe)
        yaw = math.radians((ap.state.yaw_deg + 180.0) % 360.0 - 180.0)
        return M.MAVLink_attitude_message(
            self.clock.time_boot_ms, roll, pitch, yaw, 0.0, 0.0, math.radians(ap.state.yaw_rate_dps)
        )

    def vfr_hud(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        s = ap.state
        airspeed = math.hypot(s.vx - ap.wind.east, s.vy - ap.wind.north)
        throttle = 0 if s.landed or not ap.armed else int(min(100, 40 + 2 * airspeed))
        return M.MAVLink_vfr_hud_message(
            airspeed, s.ground_speed, int(s.yaw_deg) % 360, throttle, ap.origin_alt + s.h, s.vz
        )

    def home_position(self) -> mavlink.MAVLink_message:
        lat, lon, alt = self.autopilot.home
        return M.MAVLink_home_position_message(
            round(lat * 1e7),
            round(lon * 1e7),
            int(alt * 1000),
            0.0,
            0.0,
            0.0,
            [1.0, 0.0, 0.0, 0.0],
            0.0,
            0.0,
            0.0,
            int(self.clock.unix_time(self.autopilot.now) * 1e6),
        )

    def mission_current(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        total = ap.mission_count()
        if total <= 1:
            state = M.MISSION_STATE_NO_MISSION
        elif ap.mission_complete:
            state = M.MISSION_STATE_COMPLETE
        elif ap.mode == Mode.AUTO and ap.armed:
            state = M.MISSION_STATE_ACTIVE
        elif ap.current_seq <= 1:
            state = M.MISSION_STATE_NOT_STARTED
        else:
            state = M.MISSION_STATE_PAUSED
        mode = 1 if ap.mode == Mode.AUTO else 2
        return M.MAVLink_mission_current_message(ap.current_seq, total, state, mode)

    def extended_sys_state(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        landed = {
            "ground": M.MAV_LANDED_STATE_ON_GROUND,
            "takeoff": M.MAV_LANDED_STATE_TAKEOFF,
            "landing": M.MAV_LANDED_STATE_LANDING,
            "air": M.MAV_LANDED_STATE_IN_AIR,
        }[ap.flight_phase]
        return M.MAVLink_extended_sys_state_message(M.MAV_VTOL_STATE_UNDEFINED, landed)

    def system_time(self) -> mavlink.MAVLink_message:
        return M.MAVLink_system_time_message(
            int(self.clock.unix_time(self.autopilot.now) * 1e6), self.clock.time_boot_ms
        )

    def battery_status(self) -> mavlink.MAVLink_message:
        ap = self.autopilot
        s = ap.state
        voltages = [int(s.voltage * 1000)] + [65535] * 9
        remaining = round(100 * s.remaining_fraction(ap.airframe.capacity_mah))
        return M.MAVLink_battery_status_message(
            0,
            M.MAV_BATTERY_FUNCTION_ALL,
            M.MAV_BATTERY_TYPE_LIPO,
            32767,
            voltages,
            int(s.current_a * 100),
            int(s.consumed_mah),
            -1,
            remaining,
        )

    def autopilot_version(self) -> mavlink.MAVLink_message:
        capabilities = (
            M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
            | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
            | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
            | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
            | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
            | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2
            | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
            | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
        )
        version = (4 << 24) | (6 << 16) | (0 << 8) | 255  # 4.6.0 official
        return M.MAVLink_autopilot_version_message(
            capabilities,
            version,
            0,
            0,
            0,
            [0] * 8,
            [0] * 8,
            [0] * 8,
            0,
            0,
            self.uid,
        )

    def camera_capture_status(self) -> mavlink.MAVLink_message:
        """Like ArduPilot's: image_count counts the photos since boot (CAMERA_FEEDBACK's img_idx
        of the latest), so a ground station that lost the last feedback still learns of it."""
        return M.MAVLink_camera_capture_status_message(
            self.clock.time_boot_ms, 0, 0, 0.0, 0, float("nan"), self.autopilot.photo_count
        )

    def camera_feedback(self, trigger: CameraTrigger) -> mavlink.MAVLink_message:
        focal = 0.0
        return M.MAVLink_camera_feedback_message(
            int(self.clock.unix_time(trigger.time_s) * 1e6),
            self.sysid,
            0,
            trigger.index,
            round(trigger.lat * 1e7),
            round(trigger.lon * 1e7),
            trigger.alt_amsl,
            trigger.relative_alt,
            trigger.roll_deg,
            trigger.pitch_deg,
            trigger.yaw_deg,
            focal,
            M.CAMERA_FEEDBACK_PHOTO,
            trigger.index,
        )

    # ---- incoming ------------------------------------------------------------------------------

    def _for_me(self, message: mavlink.MAVLink_message) -> bool:
        target = getattr(message, "target_system", 0)
        component = getattr(message, "target_component", 0)
        return target in (0, self.sysid) and component in (0, self.compid)

    def handle(self, link: _Link, message: mavlink.MAVLink_message) -> None:
        kind = message.get_type()
        if kind == "HEARTBEAT":
            if message.type == M.MAV_TYPE_GCS:
                self.autopilot.gcs_heartbeat()
            return
        if not self._for_me(message):
            return
        handler = getattr(self, "_on_" + kind.lower(), None)
        if handler is not None:
            handler(link, message)

    # commands

    def _on_command_long(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        result = self.command(
            link,
            m,
            m.command,
            (m.param1, m.param2, m.param3, m.param4),
            m.param5,
            m.param6,
            m.param7,
        )
        self._ack(link, m, result)

    def _on_command_int(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        if m.frame in _GLOBAL_FRAMES:
            x, y = m.x / 1e7, m.y / 1e7
        else:
            x, y = float(m.x), float(m.y)
        result = self.command(
            link, m, m.command, (m.param1, m.param2, m.param3, m.param4), x, y, m.z
        )
        self._ack(link, m, result)

    def _ack(self, link: _Link, m: mavlink.MAVLink_message, result: int | None) -> None:
        if result is None:
            return
        self._reply(
            link,
            M.MAVLink_command_ack_message(
                m.command, result, 0, 0, m.get_srcSystem(), m.get_srcComponent()
            ),
        )

    def command(
        self,
        link: _Link,
        m: mavlink.MAVLink_message,
        command: int,
        params: tuple[float, float, float, float],
        p5: float,
        p6: float,
        p7: float,
    ) -> int | None:
        """Execute a COMMAND_LONG/COMMAND_INT; returns the MAV_RESULT to acknowledge."""
        ap = self.autopilot
        p1, p2, p3, _p4 = params
        if command == M.MAV_CMD_COMPONENT_ARM_DISARM:
            if p1 == 1:
                ok, _ = ap.arm(force=int(p2) == _FORCE_MAGIC)
                return ACCEPTED if ok else FAILED
            if not ap.landed and int(p2) != _FORCE_MAGIC:
                self.say_to(link, "Disarm: vehicle is flying", Severity.ERROR)
                return FAILED
            ap.disarm(reason="commanded")
            return ACCEPTED
        if command == M.MAV_CMD_DO_SET_MODE:
            return ACCEPTED if ap.set_mode(int(p2)) else FAILED
        if command == CMD_TAKEOFF:
            return ACCEPTED if ap.takeoff(p7) else FAILED
        if command == CMD_RTL:
            return ACCEPTED if ap.set_mode(Mode.RTL) else FAILED
        if command == CMD_LAND:
            return ACCEPTED if ap.set_mode(Mode.LAND) else FAILED
        if command == M.MAV_CMD_MISSION_START:
            return ACCEPTED if ap.start_mission(int(p1)) else FAILED
        if command == M.MAV_CMD_DO_SET_MISSION_CURRENT:
            return ACCEPTED if ap.set_current(int(p1)) else FAILED
        if command == CMD_DO_SET_HOME:
            if p1 == 1:
                ap.set_home_here()
            elif p5 == 0 and p6 == 0:
                return FAILED
            else:
                ap.set_home(p5, p6, p7)
            return ACCEPTED
        if command == M.MAV_CMD_GET_HOME_POSITION:
            self._reply(link, self.home_position())
            return ACCEPTED
        if command == CMD_DO_CHANGE_SPEED:
            return ACCEPTED if ap.change_speed(p2) else FAILED
        if command == CMD_DO_DIGICAM_CONTROL:
            if p5 == 1:
                return ACCEPTED if ap.trigger_camera() is not None else FAILED
            return ACCEPTED
        if command == CMD_DO_SET_CAM_TRIGG_DIST:
            if ap.params["CAM1_TYPE"] == 0:
                return FAILED
            ap.set_trigger_distance(p1, trigger_now=p3 == 1)
            return ACCEPTED
        if command == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            return self._message_interval(link, int(p1), p2)
        if command == M.MAV_CMD_REQUEST_MESSAGE:
            message = self.build(int(p1))
            if message is None:
                return UNSUPPORTED
            # ArduPilot acknowledges first, then sends the message.
            self._ack(link, m, ACCEPTED)
            self._reply(link, message)
            return None
        if command == M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            self._ack(link, m, ACCEPTED)
            self._reply(link, self.autopilot_version())
            return None
        return UNSUPPORTED

    def _message_interval(self, link: _Link, msg_id: int, interval_us: float) -> int:
        if msg_id == M.MAVLINK_MSG_ID_HEARTBEAT:
            return ACCEPTED
        if msg_id not in self._builders:
            return UNSUPPORTED
        if interval_us < 0 or interval_us == 0:
            link.intervals.pop(msg_id, None)
        else:
            link.intervals[msg_id] = self._capped(interval_us / 1e6)
            link.next_due[msg_id] = self.clock.now
        return ACCEPTED

    def _capped(self, interval_s: float) -> float:
        return max(interval_s, self.clock.speedup / _MAX_WALL_RATE_HZ)

    def _set_stream(self, link: _Link, stream: int, rate_hz: float) -> None:
        for msg_id in STREAMS.get(stream, ()):
            if rate_hz <= 0:
                link.intervals.pop(msg_id, None)
            else:
                link.intervals[msg_id] = self._capped(1.0 / rate_hz)
                link.next_due[msg_id] = self.clock.now

    def _on_request_data_stream(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        rate = m.req_message_rate if m.start_stop else 0
        self._set_stream(link, m.req_stream_id, rate)

    def _on_set_mode(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        self.autopilot.set_mode(m.custom_mode)

    def _on_set_position_target_global_int(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        if m.type_mask & 0b111:
            return  # only position targets are supported
        relative = self.autopilot.relative_alt(m.coordinate_frame, m.alt)
        self.autopilot.goto(m.lat_int / 1e7, m.lon_int / 1e7, relative)

    # parameters

    def _param_value(self, name: str) -> mavlink.MAVLink_message:
        table = self.autopilot.params
        return M.MAVLink_param_value_message(
            name.encode("ascii"), table[name], table.type_of(name), len(table), table.index_of(name)
        )

    def _on_param_request_list(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        for name in self.autopilot.params:
            self._reply(link, self._param_value(name))

    def _on_param_request_read(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        table = self.autopilot.params
        name = _param_name(m.param_id)
        if m.param_index >= 0:
            name = table.name_at(m.param_index) or ""
        if name in table:
            self._reply(link, self._param_value(name))

    def _on_param_set(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        name = _param_name(m.param_id)
        try:
            value = self.autopilot.params.set(name, m.param_value)
        except ParameterError as exc:
            self.say_to(link, f"Param set failed: {exc}", Severity.WARNING)
            return
        if self.on_param is not None:
            self.on_param(name.upper(), value)
        self._broadcast(self._param_value(name.upper()))

    # mission protocol

    def _on_mission_count(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        mission_type = getattr(m, "mission_type", 0)
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        if mission_type not in (0, 1, 2):
            self._mission_ack(link, sysid, compid, M.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        receiving = self._uploads.get(mission_type)
        if receiving is not None and (receiving.sysid, receiving.compid) != (sysid, compid):
            # as ArduPilot's MissionItemProtocol: one upload at a time, another station's denied
            # (the uploader itself may start again)
            self._mission_ack(link, sysid, compid, MISSION_DENIED, mission_type)
            return
        if self.clock.now < self.autopilot.params["SIM_MIS_DELAY"] or m.count > _MAX_ITEMS:
            self._mission_ack(link, sysid, compid, MISSION_NO_SPACE, mission_type)
            return
        if m.count == 0:
            self._uploads.pop(mission_type, None)
            self.autopilot.replace_list(mission_type, [])
            self._mission_ack(link, sysid, compid, MISSION_ACCEPTED, mission_type)
            return
        upload = _Upload(
            link=link,
            sysid=sysid,
            compid=compid,
            mission_type=mission_type,
            count=m.count,
            items=[None] * m.count,
            legacy=bool(self.autopilot.params["SIM_MIS_LEGACY"]),
        )
        self._uploads[mission_type] = upload
        self._request_item(upload)

    def _request_item(self, upload: _Upload) -> None:
        cls = (
            M.MAVLink_mission_request_message
            if upload.legacy
            else M.MAVLink_mission_request_int_message
        )
        self._reply(
            upload.link, cls(upload.sysid, upload.compid, upload.next_seq, upload.mission_type)
        )
        upload.requested_at = time.monotonic()

    def _check_uploads(self) -> None:
        now = time.monotonic()
        for mission_type, upload in list(self._uploads.items()):
            if now - upload.requested_at < _RETRY_WALL_S:
                continue
            upload.retries += 1
            if upload.retries > _MAX_RETRIES:
                del self._uploads[mission_type]
                self._mission_ack(
                    upload.link,
                    upload.sysid,
                    upload.compid,
                    MISSION_OPERATION_CANCELLED,
                    mission_type,
                )
                self.say_to(
                    upload.link,
                    f"Mission upload timed out at item {upload.next_seq}",
                    Severity.WARNING,
                )
                continue
            if not self.autopilot.params["SIM_MIS_LEGACY"]:
                upload.legacy = not upload.legacy  # a client may only understand the other request
            self._request_item(upload)

    def _on_mission_item_int(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        self._receive_item(link, m, int(m.x), int(m.y))

    def _on_mission_item(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        if m.current == 2:  # MAVProxy/Mission Planner style "fly to here" in GUIDED
            relative = self.autopilot.relative_alt(m.frame, m.z)
            ok = self.autopilot.goto(m.x, m.y, relative)
            self._mission_ack(
                link,
                m.get_srcSystem(),
                m.get_srcComponent(),
                MISSION_ACCEPTED if ok else MISSION_ERROR,
                0,
            )
            return
        scale = m.frame in _GLOBAL_FRAMES
        x = round(m.x * 1e7) if scale else int(m.x)
        y = round(m.y * 1e7) if scale else int(m.y)
        upload = self._uploads.get(getattr(m, "mission_type", 0))
        if upload is not None and upload.link is link:
            upload.legacy = True
        self._receive_item(link, m, x, y)

    def _receive_item(self, link: _Link, m: mavlink.MAVLink_message, x: int, y: int) -> None:
        """Store MISSION_ITEM(_INT) `m` (position `x`, `y` already as stored) in its upload."""
        item = StoredItem(
            command=m.command,
            frame=m.frame,
            params=(m.param1, m.param2, m.param3, m.param4),
            x=x,
            y=y,
            z=float(m.z),
            autocontinue=int(m.autocontinue),
        )
        mission_type = getattr(m, "mission_type", 0)
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        upload = self._uploads.get(mission_type)
        if upload is None:  # not receiving
            self._mission_ack(link, sysid, compid, MISSION_ERROR, mission_type)
            return
        # ArduPilot's MissionItemProtocol::handle_mission_item: the sequence first, then the
        # sender; both answered on the upload's link, to the sender
        if m.seq != upload.next_seq:
            self._mission_ack(upload.link, sysid, compid, MISSION_INVALID_SEQUENCE, mission_type)
            if m.seq > upload.next_seq and (sysid, compid) == (upload.sysid, upload.compid):
                self._request_item(upload)  # ask again at once for the one we are missing
            return
        if (sysid, compid) != (upload.sysid, upload.compid):
            self._mission_ack(upload.link, sysid, compid, MISSION_DENIED, mission_type)
            return
        upload.items[m.seq] = item
        upload.next_seq += 1
        upload.retries = 0
        if upload.next_seq < upload.count:
            self._request_item(upload)
            return
        del self._uploads[mission_type]
        items = [i for i in upload.items if i is not None]
        if mission_type == 0:
            items = items[1:]  # sequence 0 is home: the vehicle keeps its own
        self.autopilot.replace_list(mission_type, items)
        self._mission_ack(link, upload.sysid, upload.compid, MISSION_ACCEPTED, mission_type)
        kind = {0: "mission", 1: "fence", 2: "rally"}[mission_type]
        self.autopilot.say(f"Flight plan received: {kind}, {counted(len(items), 'item')}")

    def _mission_ack(
        self, link: _Link, sysid: int, compid: int, result: int, mission_type: int
    ) -> None:
        self._reply(link, M.MAVLink_mission_ack_message(sysid, compid, result, mission_type))

    def _on_mission_request_list(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        mission_type = getattr(m, "mission_type", 0)
        if mission_type not in (0, 1, 2):
            self._mission_ack(
                link,
                m.get_srcSystem(),
                m.get_srcComponent(),
                M.MAV_MISSION_UNSUPPORTED,
                mission_type,
            )
            return
        ap = self.autopilot
        self._reply(
            link,
            M.MAVLink_mission_count_message(
                m.get_srcSystem(),
                m.get_srcComponent(),
                ap.mission_count() if mission_type == 0 else len(ap.lists[mission_type]),
                mission_type,
            ),
        )

    def _on_mission_request_int(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        self._send_item(link, m, as_int=True)

    def _on_mission_request(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        self._send_item(link, m, as_int=False)

    def _send_item(self, link: _Link, m: mavlink.MAVLink_message, *, as_int: bool) -> None:
        ap = self.autopilot
        mission_type = getattr(m, "mission_type", 0)
        item: StoredItem | None = None
        if mission_type == 0:
            item = ap.item(m.seq)
        elif mission_type in (1, 2):
            items = ap.lists[mission_type]
            item = items[m.seq] if 0 <= m.seq < len(items) else None
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        if item is None:
            self._mission_ack(link, sysid, compid, MISSION_INVALID_SEQUENCE, mission_type)
            return
        current = 1 if mission_type == 0 and m.seq == ap.current_seq else 0
        if as_int:
            cls, x, y = M.MAVLink_mission_item_int_message, item.x, item.y
        else:
            scale = 1e7 if item.is_global else 1.0
            cls, x, y = M.MAVLink_mission_item_message, item.x / scale, item.y / scale
        p1, p2, p3, p4 = item.params
        message = cls(
            sysid,
            compid,
            m.seq,
            item.frame,
            item.command,
            current,
            item.autocontinue,
            p1,
            p2,
            p3,
            p4,
            x,
            y,
            item.z,
            mission_type,
        )
        self._reply(link, message)

    def _on_mission_ack(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        return  # end of a download: nothing to do

    def _on_mission_clear_all(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        mission_type = getattr(m, "mission_type", 0)
        types = (0, 1, 2) if mission_type == M.MAV_MISSION_TYPE_ALL else (mission_type,)
        for kind in types:
            if kind in (0, 1, 2):
                self._uploads.pop(kind, None)
                self.autopilot.replace_list(kind, [])
        self._mission_ack(
            link, m.get_srcSystem(), m.get_srcComponent(), MISSION_ACCEPTED, mission_type
        )

    def _on_mission_set_current(self, link: _Link, m: mavlink.MAVLink_message) -> None:
        if self.autopilot.set_current(m.seq):
            self._reply(link, self.mission_current())
        else:
            self._mission_ack(
                link, m.get_srcSystem(), m.get_srcComponent(), MISSION_INVALID_SEQUENCE, 0
            )


def _param_name(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.split("\x00", 1)[0].strip()


def _whole_packets(buffer: bytearray, limit: int) -> int:
    """Length of the longest prefix of whole MAVLink packets not above `limit` (at least one)."""
    position = 0
    while position < len(buffer):
        magic = buffer[position]
        if magic == 0xFD and position + 10 <= len(buffer):
            length = 12 + buffer[position + 1] + 0 + (13 if buffer[position + 2] & 1 else 0)
        elif magic == 0xFE and position + 6 <= len(buffer):
            length = 8 + buffer[position + 1]
        else:
            return len(buffer)
        if position and position + length > limit:
            break
        position += length
    return position or len(buffer)
