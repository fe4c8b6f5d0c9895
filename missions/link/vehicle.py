"""Verbs on one vehicle: connect, wait_ready, upload/download/verify/clear, modes, arm, takeoff,
pause and resume, and reconnect after the link dropped.

Single-threaded on purpose: every verb pumps the link itself (answering nothing it did not ask
for, sending our GCS heartbeat once a second of the vehicle's clock, folding every message into
the telemetry tracker), and every wait has a timeout that raises a
:class:`~missions.link.errors.LinkError` naming the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gis.messages import Message as Text
from gis.messages import msg
from missions.items import MissionItem, MissionPlan, MissionType
from missions.link import transfer
from missions.link.connection import Link, MavlinkLink, Message, dialect, open_link
from missions.link.errors import (
    ArmRefused,
    CommandRefused,
    LinkConnectError,
    LinkError,
    LinkTimeout,
    Step,
    VehicleArmed,
)
from missions.link.telemetry import (
    ARDUCOPTER_MODES,
    MAV_AUTOPILOT_INVALID,
    MAV_TYPE_GCS,
    Telemetry,
    TelemetryTracker,
)

__all__ = [
    "ArmedSpan",
    "Vehicle",
    "VehicleSettings",
    "armed_upload_message",
    "command_result_name",
    "connect",
    "takeoff_step",
]

MAV_CMD_DO_SET_MODE = 176
MAV_CMD_NAV_TAKEOFF = 22
MAV_CMD_COMPONENT_ARM_DISARM = 400
MAV_CMD_SET_MESSAGE_INTERVAL = 511
MAV_CMD_REQUEST_MESSAGE = 512
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1
MAV_RESULT_ACCEPTED = 0
MAV_RESULT_IN_PROGRESS = 5
#: A command is resent after ``command_timeout_s`` of the vehicle's clock (a sped-up simulator's
#: auto-disarm and failsafes run on it), but never sooner than this many of our seconds.
MIN_RESEND_S = 0.1

#: Our GCS heartbeat is sent every this many seconds of ours or of the vehicle's clock, whichever
#: passes first (ArduPilot's GCS failsafe, FS_GCS_TIMEOUT, counts in the vehicle's), but never
#: more often than every MIN_HEARTBEAT_S of ours: a vehicle at our pace gets 1 Hz, a simulator
#: sped up 10x 10 Hz of our time.
GCS_HEARTBEAT_S = 1.0
MIN_HEARTBEAT_S = 0.02

#: While the GPS status or the home position has not come, the streams are asked for again this
#: often (our seconds): on a lossy link the one request for them may be lost.
STREAMS_REASK_S = 3.0

#: Messages asked for at start-up, with their rate in Hz (a fresh ArduPilot streams nothing).
STREAMED_MESSAGES: dict[str, float] = {
    "GLOBAL_POSITION_INT": 5.0,
    "ATTITUDE": 5.0,
    "SYS_STATUS": 2.0,
    "GPS_RAW_INT": 2.0,
    "MISSION_CURRENT": 2.0,
    "EXTENDED_SYS_STATE": 2.0,
    "EKF_STATUS_REPORT": 1.0,
    "HOME_POSITION": 0.5,
    # the camera's image count: photos whose CAMERA_FEEDBACK was lost (the link was down) count
    # as taken as soon as the link is back, not when a later photo or the landing shows them
    "CAMERA_CAPTURE_STATUS": 1.0,
}


def takeoff_step(altitude_m: float) -> Text:
    """The step :meth:`Vehicle.takeoff` names: ``takeoff to 30.0 m``."""
    return msg("takeoff to %(altitude)s m", altitude=f"{altitude_m:.1f}")


def armed_upload_message(step: Step) -> Text:
    """Why ``step`` (an upload) is refused on an armed vehicle: said the same everywhere."""
    return msg(
        "%(step)s: the vehicle is armed: nothing is uploaded to a flying vehicle; land it first",
        step=step,
    )


def command_result_name(result: int) -> str:
    """``MAV_RESULT_DENIED`` etc. for a COMMAND_ACK result."""
    entry = dialect.enums["MAV_RESULT"].get(int(result))
    return entry.name if entry is not None else f"result {result}"


DEFAULT_TRANSFER = transfer.TransferSettings()


@dataclass(frozen=True, slots=True)
class ArmedSpan:
    """The vehicle's latest time armed, by its own clock (``time_boot_ms`` seconds; None: not
    heard yet): from the heartbeat that showed it armed to the one that showed it disarmed
    (None while it is armed)."""

    armed_at_s: float | None
    disarmed_at_s: float | None = None

    @property
    def seconds(self) -> float | None:
        """How long it stayed armed; None while armed or when its clock was not heard."""
        if self.armed_at_s is None or self.disarmed_at_s is None:
            return None
        return max(0.0, self.disarmed_at_s - self.armed_at_s)


@dataclass(frozen=True, slots=True)
class VehicleSettings:
    """Timeouts of the vehicle verbs (wall-clock seconds) and the mission-transfer settings.

    A command gets ``command_retries`` resends, each after ``command_timeout_s`` by the vehicle's
    clock once its rate is known (see :meth:`Vehicle.command`); it is given up only when
    ``(command_retries + 1) * command_timeout_s`` of our seconds have passed without an answer.
    """

    command_timeout_s: float = 1.5
    command_retries: int = 4
    mode_timeout_s: float = 5.0
    arm_timeout_s: float = 5.0
    stream_rate_hz: float = 4.0
    transfer: transfer.TransferSettings = DEFAULT_TRANSFER


class Vehicle:
    """One autopilot on a :class:`Link`; implements :class:`missions.link.transfer.Channel`."""

    def __init__(
        self,
        link: Link,
        *,
        target_system: int = 0,
        target_component: int = 0,
        settings: VehicleSettings = VehicleSettings(),
        clock: Callable[[], float] = time.monotonic,
        reopen: Callable[[float], Link] | None = None,
    ) -> None:
        """``reopen(timeout)`` opens a new link to the same vehicle, for :meth:`reconnect`
        (:func:`connect` passes one that opens its connection string again)."""
        self.link = link
        self.target_system = target_system
        self.target_component = target_component
        self.settings = settings
        self._clock = clock
        self._reopen = reopen
        self.tracker = TelemetryTracker(target_system=target_system, clock=clock)
        self._last_heartbeat_sent = -1e9
        self._last_heartbeat_vehicle_s: float | None = None  # the vehicle's clock then
        self._listeners: list[Callable[[Message], None]] = []
        self._resync_from: int | None = None  # mission item being flown when the link dropped
        self.armings = 0  # disarmed -> armed heartbeats heard (this link's life)
        self.armed_span: ArmedSpan | None = None  # the latest time armed, None: never heard
        #: the vehicle's DISARM_DELAY (s) once read (:meth:`disarm_delay_s`)
        self.disarm_delay: float | None = None
        self._streams_asked_at: float | None = None  # our clock, the last request_streams()

    # ------------------------------------------------------------------ the Channel and the pump

    def send(self, message: Message) -> None:
        self.link.send(message)

    def recv(self, timeout: float) -> Message | None:
        """Receive one message (or None), updating telemetry and keeping our heartbeat going."""
        self._heartbeat_if_due()
        self._ask_again_if_missing()
        message = self.link.recv(min(timeout, 0.5))
        if message is not None:
            if self._resync_from is not None:
                self._resync(message)
            was_armed = self.tracker.armed
            self.tracker.on_message(message)
            if self.tracker.armed != was_armed:
                self._armed_changed(self.tracker.armed)
            for listener in self._listeners:
                listener(message)
        return message

    def _armed_changed(self, armed: bool) -> None:
        """Note an arm or disarm heard, by the vehicle's clock (see :attr:`armed_span`)."""
        now = self.tracker.vehicle_time_s
        if armed:
            self.armings += 1
            self.armed_span = ArmedSpan(armed_at_s=now)
        elif self.armed_span is not None:
            self.armed_span = ArmedSpan(self.armed_span.armed_at_s, disarmed_at_s=now)

    def _heartbeat_if_due(self) -> None:
        """Our GCS heartbeat, every :data:`GCS_HEARTBEAT_S` by our clock or by the vehicle's,
        whichever comes first: a real vehicle gets 1 Hz, as from every ground station; a
        sped-up simulator, whose GCS failsafe (FS_GCS_TIMEOUT) counts its own seconds as
        ArduPilot's does, one a second of its clock (at most one per :data:`MIN_HEARTBEAT_S`)."""
        now, vehicle_now = self._clock(), self.tracker.vehicle_time_s
        since = now - self._last_heartbeat_sent
        last = self._last_heartbeat_vehicle_s
        due = since >= GCS_HEARTBEAT_S or (
            vehicle_now is not None
            and since >= MIN_HEARTBEAT_S
            # not heard then, a second on, or its clock gone back (it rebooted)
            and (last is None or not 0 <= vehicle_now - last < GCS_HEARTBEAT_S)
        )
        if due:
            self._last_heartbeat_sent, self._last_heartbeat_vehicle_s = now, vehicle_now
            self.link.send(
                dialect.MAVLink_heartbeat_message(
                    type=MAV_TYPE_GCS,
                    autopilot=MAV_AUTOPILOT_INVALID,
                    base_mode=0,
                    custom_mode=0,
                    system_status=4,
                    mavlink_version=3,
                )
            )

    def _ask_again_if_missing(self) -> None:
        """Ask for the streams again while the GPS status or the home position has not come
        (every :data:`STREAMS_REASK_S`): the pre-flight checks wait for both."""
        asked = self._streams_asked_at
        if asked is None or self._clock() - asked < STREAMS_REASK_S:
            return
        if self.tracker.gps is None or self.tracker.home is None:
            self.request_streams()

    def pump(self, duration_s: float) -> None:
        """Process incoming messages for ``duration_s`` seconds."""
        deadline = self._clock() + duration_s
        while (remaining := deadline - self._clock()) > 0:
            self.recv(remaining)

    def wait_for(
        self, predicate: Callable[[Telemetry], bool], *, timeout: float, step: Step
    ) -> Telemetry:
        """Pump until ``predicate(snapshot)`` holds; LinkTimeout naming ``step`` otherwise."""
        deadline = self._clock() + timeout
        while True:
            snapshot = self.tracker.snapshot()
            if predicate(snapshot):
                return snapshot
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LinkTimeout(
                    msg(
                        "%(step)s: not done after %(seconds)s s (%(state)s)",
                        step=step,
                        seconds=f"{timeout:.1f}",
                        state=snapshot.one_line(),
                    )
                )
            self.recv(min(remaining, 0.1))

    # ------------------------------------------------------------------ start-up

    def wait_ready(self, *, timeout: float = 30.0) -> Telemetry:
        """Wait for the autopilot's heartbeat, request telemetry streams, wait for a position."""
        deadline = self._clock() + timeout
        while self.target_system == 0:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LinkTimeout(
                    msg(
                        "wait_ready: no autopilot heartbeat within %(seconds)s s",
                        seconds=f"{timeout:.1f}",
                    )
                )
            message = self.recv(remaining)
            if (
                message is not None
                and message.get_type() == "HEARTBEAT"
                and message.type != MAV_TYPE_GCS
                and message.autopilot != MAV_AUTOPILOT_INVALID
            ):
                self.target_system = message.get_srcSystem()
                self.target_component = message.get_srcComponent()
                self.tracker.target_system = self.target_system  # recv() already tracked it
        last_request = -1e9
        while self.tracker.position is None or self.tracker.heartbeats == 0:
            now = self._clock()
            if now >= deadline:
                raise LinkTimeout(
                    msg(
                        "wait_ready: vehicle %(id)s sends heartbeats but no position within "
                        "%(seconds)s s, even after requesting streams",
                        id=self.target_system,
                        seconds=f"{timeout:.1f}",
                    )
                )
            if now - last_request >= 2.0:
                self.request_streams()
                last_request = now
            self.recv(min(0.2, deadline - now))
        return self.tracker.snapshot()

    def board_id(self, *, timeout: float = 2.0) -> str | None:
        """The autopilot board's serial number (AUTOPILOT_VERSION uid, hex), asked for and
        awaited up to ``timeout`` s; None for a vehicle that does not report one.

        It tells one vehicle from another where system ids (1 by default) do not: two links
        reaching one vehicle, e.g. directly and through a telemetry proxy.
        """
        deadline = self._clock() + timeout
        last_request = -1e9
        while self.tracker.board_uid is None and (now := self._clock()) < deadline:
            if now - last_request >= 0.5:
                self._command_no_ack(
                    MAV_CMD_REQUEST_MESSAGE, dialect.MAVLINK_MSG_ID_AUTOPILOT_VERSION
                )
                last_request = now
            self.recv(min(0.1, deadline - now))
        return self.tracker.board_uid

    def request_streams(self, *, rate_hz: float | None = None) -> None:
        """Ask for telemetry: REQUEST_DATA_STREAM (all) and SET_MESSAGE_INTERVAL per message."""
        rate = self.settings.stream_rate_hz if rate_hz is None else rate_hz
        self._streams_asked_at = self._clock()
        self.send(
            dialect.MAVLink_request_data_stream_message(
                target_system=self.target_system,
                target_component=self.target_component,
                req_stream_id=dialect.MAV_DATA_STREAM_ALL,
                req_message_rate=max(1, round(rate)),
                start_stop=1,
            )
        )
        for name, hz in STREAMED_MESSAGES.items():
            message_id = getattr(dialect, f"MAVLINK_MSG_ID_{name}")
            self._command_no_ack(MAV_CMD_SET_MESSAGE_INTERVAL, message_id, 1e6 / hz)
        self._command_no_ack(MAV_CMD_REQUEST_MESSAGE, dialect.MAVLINK_MSG_ID_HOME_POSITION)
        self.request_camera_status()  # at once, also from a vehicle that does not stream it
        # the board serial: another board answering later means ours was replaced (a reboot)
        self._command_no_ack(MAV_CMD_REQUEST_MESSAGE, dialect.MAVLINK_MSG_ID_AUTOPILOT_VERSION)

    def request_camera_status(self) -> None:
        """Ask for CAMERA_CAPTURE_STATUS (its image_count counts every photo taken since boot,
        whether or not its CAMERA_FEEDBACK reached us); the answer goes to the tracker."""
        self._command_no_ack(MAV_CMD_REQUEST_MESSAGE, dialect.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS)

    # ------------------------------------------------------------------ commands

    def _command_message(
        self, command: int, params: tuple[float, ...], confirmation: int
    ) -> Message:
        p = (*params, *(0.0,) * (7 - len(params)))
        return dialect.MAVLink_command_long_message(
            self.target_system, self.target_component, command, confirmation, *p
        )

    def _command_no_ack(self, command: int, *params: float) -> None:
        self.send(self._command_message(command, tuple(float(x) for x in params), 0))

    def command(
        self,
        command: int,
        *params: float,
        step: Step,
        error: type[CommandRefused] = CommandRefused,
        done: Callable[[Telemetry], bool] | None = None,
    ) -> None:
        """COMMAND_LONG and wait for its COMMAND_ACK, re-sending on timeout; refusals raise
        ``error`` carrying the STATUSTEXTs the vehicle sent meanwhile (e.g. PreArm reasons).

        Resends come after ``command_timeout_s`` of the vehicle's clock (:meth:`_resend_after_s`):
        a sped-up simulator's timers, such as its auto-disarm, run on that clock, so waiting in
        our seconds would let them run out between tries. The command is given up only after
        ``(command_retries + 1) * command_timeout_s`` of our seconds all the same.

        ``done(snapshot)`` says whether the vehicle already is where the command takes it: a
        command is not sent again once it holds (its ACK was lost, not the command), and a
        refusal of a resend counts as success when it holds (a re-sent command that is not
        idempotent, such as takeoff, is refused when the first one worked).
        """
        texts_before = self.tracker.status_count
        floats = tuple(float(x) for x in params)
        retries = self.settings.command_retries
        give_up_at = self._clock() + (retries + 1) * self.settings.command_timeout_s
        for attempt in range(retries + 1):
            if attempt > 0 and done is not None and done(self.tracker.snapshot()):
                return  # the command took effect; its ACK was lost
            self.send(self._command_message(command, floats, attempt))
            deadline = self._clock() + self._resend_after_s()
            if attempt == retries:  # the last try: wait out the whole budget
                deadline = max(deadline, give_up_at)
            while (remaining := deadline - self._clock()) > 0:
                message = self.recv(remaining)
                if message is None or message.get_type() != "COMMAND_ACK":
                    continue
                if message.command != command or message.get_srcSystem() != self.target_system:
                    continue
                if message.result == MAV_RESULT_ACCEPTED:
                    return
                if message.result == MAV_RESULT_IN_PROGRESS:
                    deadline = self._clock() + self.settings.command_timeout_s
                    continue
                if attempt > 0 and done is not None and self._already(done):
                    return  # the first try worked; its ACK was lost
                self.pump(0.2)  # reasons may trail the ACK
                texts = tuple(t.text for t in self.tracker.texts_since(texts_before))
                raise error(
                    msg(
                        "%(step)s: vehicle refused (%(result)s): %(reason)s",
                        step=step,
                        result=command_result_name(message.result),
                        reason="; ".join(texts) if texts else msg("no reason given"),
                    ),
                    result=int(message.result),
                    status_texts=texts,
                )
        raise LinkTimeout(
            msg(
                "%(step)s: no COMMAND_ACK after %(tries)s tries",
                step=step,
                tries=self.settings.command_retries + 1,
            )
        )

    def _resend_after_s(self) -> float:
        """Our seconds to wait for a COMMAND_ACK before resending: ``command_timeout_s`` of the
        vehicle's clock when it runs faster than ours (a sped-up simulator), at least
        :data:`MIN_RESEND_S`; ``command_timeout_s`` otherwise."""
        timeout = self.settings.command_timeout_s
        rate = self.tracker.clock_rate
        if rate is None or rate <= 1.0:
            return timeout
        return max(timeout / rate, min(MIN_RESEND_S, timeout))

    def _already(self, done: Callable[[Telemetry], bool]) -> bool:
        """Whether ``done`` holds within a command timeout (telemetry may trail the refusal)."""
        try:
            self.wait_for(done, timeout=self.settings.command_timeout_s, step="state check")
        except LinkTimeout:
            return False
        return True

    def set_mode(self, name: str) -> None:
        """Switch flight mode by ArduCopter name (GUIDED, AUTO, RTL, LAND, LOITER, …)."""
        key = name.upper()
        if key not in ARDUCOPTER_MODES:
            raise LinkError(
                msg(
                    "set_mode: unknown mode %(mode)r; known: %(known)s",
                    mode=name,
                    known=", ".join(sorted(ARDUCOPTER_MODES)),
                )
            )
        number = ARDUCOPTER_MODES[key]
        step = msg("set_mode %(mode)s", mode=key)
        self.command(
            MAV_CMD_DO_SET_MODE,
            MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
            number,
            step=step,
            done=lambda t: t.mode == key,
        )
        self.wait_for(lambda t: t.mode == key, timeout=self.settings.mode_timeout_s, step=step)

    def arm(self) -> None:
        """Arm the motors; a refusal raises ArmRefused with the vehicle's PreArm reasons.

        Done once the vehicle was heard armed: one that disarmed itself since (ArduCopter does
        after DISARM_DELAY on the ground) is not armed again behind the pilot's back; the
        takeoff that follows says so (:meth:`takeoff`)."""
        step = msg("arm")
        before = self.armings

        def armed(snapshot: Telemetry) -> bool:
            return snapshot.armed or self.armings > before

        self.command(MAV_CMD_COMPONENT_ARM_DISARM, 1, step=step, error=ArmRefused, done=armed)
        self.wait_for(armed, timeout=self.settings.arm_timeout_s, step=step)

    def disarm(self, *, force: bool = False) -> None:
        """Disarm (``force`` also in the air: the magic 21196 of MAV_CMD_COMPONENT_ARM_DISARM)."""
        step = msg("disarm")
        self.command(
            MAV_CMD_COMPONENT_ARM_DISARM,
            0,
            21196 if force else 0,
            step=step,
            done=lambda t: not t.armed,
        )
        self.wait_for(lambda t: not t.armed, timeout=self.settings.arm_timeout_s, step=step)

    def takeoff(self, altitude_m: float) -> None:
        """Climb to ``altitude_m`` above home (GUIDED and armed; send right after arming).

        A refusal because the vehicle disarmed itself meanwhile (its auto-disarm) says so,
        with how long it stayed armed on the ground."""
        step = takeoff_step(altitude_m)
        try:
            self.command(
                MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, altitude_m, step=step, done=_airborne
            )
        except CommandRefused as exc:
            if not self._already(lambda t: not t.armed):
                raise
            raise CommandRefused(
                self._disarmed_before_takeoff(step),
                result=exc.result,
                status_texts=exc.status_texts,
            ) from exc

    def disarm_delay_s(self) -> float | None:
        """The vehicle's DISARM_DELAY (its auto-disarm after that many seconds armed on the
        ground; 0: never), read once and kept; None when it did not answer."""
        if self.disarm_delay is None:
            try:
                self.disarm_delay = self.get_param("DISARM_DELAY")
            except LinkError:
                return None
        return self.disarm_delay

    def _disarmed_before_takeoff(self, step: Step) -> Text:
        """Why a takeoff was refused by a vehicle that is no longer armed: its auto-disarm,
        after its own DISARM_DELAY (the time we heard it armed is no measure of it: the
        heartbeats saying so may come late or be lost)."""
        seconds = self.disarm_delay_s()
        if not seconds:  # not read, or auto-disarm off: no figure to give
            return msg(
                "%(step)s: the vehicle disarmed itself before takeoff (auto-disarm on the ground)",
                step=step,
            )
        return msg(
            "%(step)s: the vehicle disarmed itself before takeoff (auto-disarm after "
            "%(seconds)s s on the ground)",
            step=step,
            seconds=f"{seconds:.0f}",
        )

    def start_mission(self) -> None:
        """Fly the uploaded mission: switch to AUTO."""
        self.set_mode("AUTO")

    def rtl(self) -> None:
        """Return to launch."""
        self.set_mode("RTL")

    def land(self) -> None:
        """Land where the vehicle is."""
        self.set_mode("LAND")

    def pause(self) -> None:
        """Stop and hold position: BRAKE, as QGroundControl pauses an ArduCopter (it takes no
        pilot input, unlike LOITER)."""
        self.set_mode("BRAKE")

    def resume(self) -> None:
        """Fly the mission on from its current item: AUTO again (ArduCopter continues at the
        item it was flying, unless MIS_RESTART is set)."""
        self.set_mode("AUTO")

    # ------------------------------------------------------------------ a dropped link

    def reconnect(self, *, timeout: float = 2.0) -> None:
        """Open the link again after it dropped (a LinkLost) and ask for the telemetry streams.

        Everything known about the vehicle is kept. Items the vehicle passed while nobody was
        listening (their MISSION_ITEM_REACHED went nowhere) count as reached once its first
        MISSION_CURRENT shows it beyond them. LinkConnectError when the link cannot be opened
        now (call again later), LinkLost when it drops again at once.
        """
        if self._reopen is None:
            raise LinkConnectError(
                msg(
                    "reconnect: this vehicle was not connected by connection string; nothing to "
                    "reopen"
                )
            )
        self.link.close()
        self.link = self._reopen(timeout)
        if self.target_system and isinstance(self.link, MavlinkLink):
            self.link.heard = True  # heard here before: a close is the vehicle's, not a stranger's
        self.tracker.link_reopened()  # a vehicle that rebooted meanwhile must not pass as landed
        self._last_heartbeat_sent = -1e9
        self._resync_from = self.tracker.mission_current
        self.request_streams()

    def _resync(self, message: Message) -> None:
        if message.get_type() != "MISSION_CURRENT" or message.get_srcSystem() != self.target_system:
            return
        seq, start = int(message.seq), self._resync_from or 0
        self._resync_from = None
        if start >= 1 and seq > start:
            self.tracker.reached.update(range(start, seq))

    # ------------------------------------------------------------------ parameters

    def get_param(self, name: str) -> float:
        """PARAM_REQUEST_READ and wait for the PARAM_VALUE; returns the value the vehicle holds."""
        step = msg("read parameter %(name)s", name=name)
        if not 0 < len(name) <= 16:
            raise LinkError(msg("%(step)s: a parameter name has 1 to 16 characters", step=step))
        message = dialect.MAVLink_param_request_read_message(
            self.target_system, self.target_component, name.encode("ascii"), -1
        )
        return self._param_exchange(message, name, step)

    def _param_exchange(self, message: Message, name: str, step: Text) -> float:
        for _attempt in range(self.settings.command_retries + 1):
            self.send(message)
            deadline = self._clock() + self.settings.command_timeout_s
            while (remaining := deadline - self._clock()) > 0:
                reply = self.recv(remaining)
                if (
                    reply is not None
                    and reply.get_type() == "PARAM_VALUE"
                    and reply.param_id.rstrip("\x00") == name
                ):
                    return float(reply.param_value)
        raise LinkTimeout(
            msg(
                "%(step)s: no PARAM_VALUE after %(tries)s tries",
                step=step,
                tries=self.settings.command_retries + 1,
            )
        )

    def set_param(self, name: str, value: float) -> float:
        """PARAM_SET and wait for the PARAM_VALUE echo; returns the value the vehicle now holds."""
        step = msg("set parameter %(name)s", name=name)
        if not 0 < len(name) <= 16:
            raise LinkError(msg("%(step)s: a parameter name has 1 to 16 characters", step=step))
        message = dialect.MAVLink_param_set_message(
            self.target_system, self.target_component, name.encode("ascii"), float(value),
            dialect.MAV_PARAM_TYPE_REAL32,
        )  # fmt: skip
        return self._param_exchange(message, name, step)

    # ------------------------------------------------------------------ missions

    def upload(
        self, plan: MissionPlan, *, on_progress: Callable[[str, int, int], None] | None = None
    ) -> None:
        """Upload mission (home as item 0), fence and rally; UnsafePlan for an altitude out of
        limits and VehicleArmed for an armed vehicle, both before anything is sent."""
        transfer.check_altitudes(plan)
        self.refuse_if_armed(msg("upload"))
        transfer.upload_plan(self, plan, settings=self.settings.transfer, on_progress=on_progress)
        self.tracker.mission_total = len(plan.items) + 1

    def refuse_if_armed(self, step: Step) -> None:
        """VehicleArmed when the vehicle is (as last heard) armed: its mission and fence are
        what it flies by, and must not change under it."""
        if self.tracker.armed:
            raise VehicleArmed(armed_upload_message(step))

    def download(
        self, *, on_progress: Callable[[str, int, int], None] | None = None
    ) -> transfer.VehicleLists:
        """Read mission (home split off), fence and rally from the vehicle."""
        return transfer.download_plan(
            self, settings=self.settings.transfer, on_progress=on_progress
        )

    def download_mission(self) -> list[MissionItem]:
        """The mission list only, including ArduPilot's home at index 0."""
        return transfer.download_list(self, settings=self.settings.transfer)

    def verify(
        self, plan: MissionPlan, *, on_progress: Callable[[str, int, int], None] | None = None
    ) -> transfer.VehicleLists:
        """Download every list again and compare with ``plan``; VerifyError names the first
        difference."""
        return transfer.verify_plan(
            self, plan, settings=self.settings.transfer, on_progress=on_progress
        )

    def clear(self) -> None:
        """Delete mission, fence and rally on the vehicle."""
        for mission_type in MissionType:
            transfer.clear_list(self, mission_type=mission_type, settings=self.settings.transfer)

    def set_current(self, seq: int) -> None:
        """Make mission item ``seq`` (vehicle numbering) the next to fly."""
        transfer.set_current(self, seq, settings=self.settings.transfer)

    # ------------------------------------------------------------------ telemetry

    def telemetry(
        self, *, interval_s: float | Callable[[], float] = 0.5, texts_since: int | None = None
    ) -> Iterator[Telemetry]:
        """Snapshots every ``interval_s`` seconds (a callable: asked before each, so the pace
        may follow the vehicle's clock), forever; every message between is folded in. Each
        carries the status texts heard since the previous one (the first: since the
        ``texts_since``-th, see :attr:`~missions.link.telemetry.TelemetryTracker.status_count`;
        None: from now)."""
        seen = self.tracker.status_count if texts_since is None else texts_since
        while True:
            self.pump(interval_s() if callable(interval_s) else interval_s)
            snapshot = self.tracker.snapshot(texts_since=seen)
            seen = self.tracker.status_count
            yield snapshot

    def add_listener(self, listener: Callable[[Message], None]) -> None:
        """Call ``listener`` with every received message (e.g. to log CAMERA_FEEDBACK)."""
        self._listeners.append(listener)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Vehicle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _airborne(snapshot: Telemetry) -> bool:
    """Armed and off the ground (or climbing): where a takeoff leaves the vehicle."""
    climbing = snapshot.position is not None and snapshot.position.relative_alt_m > 0.5
    return snapshot.armed and (not snapshot.on_ground or climbing)


def connect(
    url: str,
    *,
    timeout: float = 10.0,
    settings: VehicleSettings = VehicleSettings(),
    wait: bool = True,
) -> Vehicle:
    """Open ``url`` (tcp:, udp:, udpout:, serial) and, unless ``wait=False``, wait until ready;
    the vehicle can :meth:`~Vehicle.reconnect` to ``url`` when the link drops."""
    link = open_link(url, timeout=timeout)
    vehicle = Vehicle(link, settings=settings, reopen=lambda wait: open_link(url, timeout=wait))
    if wait:
        try:
            vehicle.wait_ready(timeout=timeout)
        except LinkTimeout as exc:  # name the address: a pilot may have several links open
            link.close()
            raise LinkTimeout(msg("%(url)s: %(reason)s", url=url, reason=exc)) from None
        except BaseException:
            link.close()
            raise
    return vehicle
