"""The MAVLink mission protocol for mission, fence and rally: upload, download, clear, set current.

Each transfer is a small state machine with no I/O (``start``, ``on_message``, ``on_timeout`` return
the messages to send), driven by :func:`run_transfer` over any :class:`Channel`. The machines cope
with what real links and real ArduPilot do: requests by MISSION_REQUEST_INT or the old
MISSION_REQUEST, duplicate and out-of-order requests, lost packets (the waiting side re-sends with
back-off), a lost final MISSION_ACK (confirmed by reading the count back), "no space"/"denied"
refusals for a few seconds after boot (retried), and home kept as mission item 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from gis.messages import Message as Text
from gis.messages import msg
from missions.items import (
    Command,
    Frame,
    MissionItem,
    MissionPlan,
    MissionType,
    fence_items,
    rally_items,
)
from missions.link.connection import Message, dialect
from missions.link.errors import (
    LinkTimeout,
    MissionTransferError,
    Step,
    UnsafePlan,
    VerifyError,
)

__all__ = [
    "MAX_ALTITUDE_M",
    "MIN_ALTITUDE_M",
    "Channel",
    "ClearMachine",
    "DownloadMachine",
    "Mismatch",
    "SetCurrentMachine",
    "TransferSettings",
    "UploadMachine",
    "VehicleLists",
    "altitude_problem",
    "check_altitudes",
    "clear_list",
    "compare_items",
    "download_list",
    "download_plan",
    "home_item",
    "item_to_message",
    "message_to_item",
    "mission_result_error",
    "mission_result_name",
    "plan_lists",
    "run_transfer",
    "set_current",
    "upload_list",
    "upload_plan",
    "verify_plan",
]

ProgressCallback = Callable[[int, int], None]

ACCEPTED = 0
GENERIC_ERROR = 1
NO_SPACE = 4
INVALID_SEQUENCE = 13
DENIED = 14

#: What each MAV_MISSION_RESULT means to a pilot (names from the MAVLink common dialect).
_RESULT_TEXT: dict[int, Text] = {
    0: msg("accepted"),
    1: msg("generic error"),
    2: msg("coordinate frame not supported"),
    3: msg("command not supported"),
    4: msg("no space left on the vehicle (or still booting)"),
    5: msg("one of the parameters has an invalid value"),
    6: msg("param1 has an invalid value"),
    7: msg("param2 has an invalid value"),
    8: msg("param3 has an invalid value"),
    9: msg("param4 has an invalid value"),
    10: msg("x / param5 (latitude) has an invalid value"),
    11: msg("y / param6 (longitude) has an invalid value"),
    12: msg("z / param7 (altitude) has an invalid value"),
    13: msg("item received out of sequence"),
    14: msg(
        "the vehicle denied the operation (another ground station is uploading to it; or busy, "
        "armed or still booting)"
    ),
    15: msg("the operation was cancelled"),
}
_UNKNOWN_RESULT = msg("unknown result code")  # not nested in a call: babel would not extract it

_TYPE_NAMES = {
    MissionType.MISSION: "mission",
    MissionType.FENCE: "fence",
    MissionType.RALLY: "rally",
}
#: The lists as the messages of a transfer name them (by their :data:`_TYPE_NAMES`).
_LIST_NAMES = {
    "mission": msg("mission"),
    "fence": msg("fence"),
    "rally": msg("rally"),
}
#: The steps of each list's transfers, as their errors name them.
_STEPS: dict[str, dict[MissionType, Text]] = {
    "upload": {
        MissionType.MISSION: msg("mission upload"),
        MissionType.FENCE: msg("fence upload"),
        MissionType.RALLY: msg("rally upload"),
    },
    "download": {
        MissionType.MISSION: msg("mission download"),
        MissionType.FENCE: msg("fence download"),
        MissionType.RALLY: msg("rally download"),
    },
    "clear": {
        MissionType.MISSION: msg("mission clear"),
        MissionType.FENCE: msg("fence clear"),
        MissionType.RALLY: msg("rally clear"),
    },
}

#: MISSION_ITEM_INT frames the vehicle may report back, mapped to the float frames plans use.
_INT_FRAMES = {5: 0, 6: 3, 11: 10}


class Channel(Protocol):
    """What a transfer needs: send and receive messages, and the vehicle's ids to address."""

    target_system: int
    target_component: int

    def send(self, message: Message) -> None:
        """Send one message to the vehicle."""

    def recv(self, timeout: float) -> Message | None:
        """The next message from anyone, or None after ``timeout`` seconds."""


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Timeouts and retries for one transfer; each wait is retried with a growing timeout."""

    timeout_s: float = 1.0
    retries: int = 6
    backoff: float = 1.5
    max_timeout_s: float = 5.0
    busy_retries: int = 12  # "no space"/"denied" answers right after boot
    busy_delay_s: float = 0.5
    download_window: int = 4  # item requests in flight while downloading (1 = strictly serial)


def mission_result_name(result: int) -> str:
    """``MAV_MISSION_NO_SPACE`` etc. for a MAV_MISSION_RESULT code (``result 42`` if unknown)."""
    entry = dialect.enums["MAV_MISSION_RESULT"].get(result)
    if entry is None or entry.name.endswith("ENUM_END"):
        return f"result {result}"
    return entry.name


def mission_result_error(result: int, *, step: Step) -> MissionTransferError:
    """The error for a refused transfer, naming the step, the code and what it means."""
    return MissionTransferError(
        msg(
            "%(step)s: vehicle answered %(result)s (%(meaning)s)",
            step=step,
            result=mission_result_name(result),
            meaning=_RESULT_TEXT.get(result, _UNKNOWN_RESULT),
        ),
        result=result,
    )


def home_item(plan: MissionPlan) -> MissionItem:
    """ArduPilot's mission item 0: home as an absolute-altitude waypoint."""
    lat, lon, alt = plan.home
    return MissionItem(command=Command.NAV_WAYPOINT, frame=Frame.GLOBAL, lat=lat, lon=lon, alt=alt)


def _deg_e7(value: float) -> int:
    return 0 if math.isnan(value) else round(value * 1e7)


def item_to_message(
    item: MissionItem,
    seq: int,
    *,
    target_system: int,
    target_component: int,
    mission_type: int,
) -> Message:
    """A MISSION_ITEM_INT for ``item`` at ``seq``; positions become degE7 only here, on the wire."""
    p1, p2, p3, p4 = (float(p) for p in item.params)
    return dialect.MAVLink_mission_item_int_message(
        target_system=target_system,
        target_component=target_component,
        seq=seq,
        frame=int(item.frame),
        command=int(item.command),
        current=0,
        autocontinue=int(bool(item.autocontinue)),
        param1=p1,
        param2=p2,
        param3=p3,
        param4=p4,
        x=_deg_e7(item.lat),
        y=_deg_e7(item.lon),
        z=float(item.alt),
        mission_type=int(mission_type),
    )


def message_to_item(message: Message) -> MissionItem:
    """A MissionItem from MISSION_ITEM_INT (degE7) or the old MISSION_ITEM (float degrees)."""
    scale = 1e-7 if message.get_type() == "MISSION_ITEM_INT" else 1.0
    return MissionItem(
        command=int(message.command),
        frame=int(message.frame),
        params=(
            float(message.param1),
            float(message.param2),
            float(message.param3),
            float(message.param4),
        ),
        lat=message.x * scale,
        lon=message.y * scale,
        alt=float(message.z),
        autocontinue=bool(message.autocontinue),
    )


# --------------------------------------------------------------------------- comparison (pure)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first difference between a plan list and the vehicle's; ``index`` counts plan items."""

    index: int
    field: str
    expected: object
    actual: object

    def describe(self, *, what: str = "mission", offset: int = 0) -> str:
        """One line naming the item (plan index and vehicle sequence) and the differing field."""
        return str(self.message(what=what, offset=offset))

    def message(self, *, what: str = "mission", offset: int = 0) -> Text:
        """:meth:`describe` as a translatable message (``what`` is mission, fence or rally)."""
        name = _LIST_NAMES.get(what, what)
        if self.field == "count":
            return msg(
                "%(what)s: the vehicle holds %(actual)s items, the plan has %(expected)s",
                what=name,
                actual=self.actual,
                expected=self.expected,
            )
        return msg(
            "%(what)s item %(index)s (vehicle seq %(seq)s): %(field)s is %(actual)r on the "
            "vehicle, %(expected)r in the plan",
            what=name,
            index=self.index,
            seq=self.index + offset,
            field=self.field,
            actual=self.actual,
            expected=self.expected,
        )


def _has_position(command: int) -> bool:
    """NAV commands (< 100) and fence/rally items carry a position; DO_/CONDITION_ items do not."""
    return command < 100 or command >= 5000


def _normalised(expected: MissionItem, actual: MissionItem) -> MissionItem:
    """``actual`` with the vehicle's harmless re-encodings undone: INT frames, positions of items
    without one, and NaN ("unset") params that vehicles store as 0."""
    frame = _INT_FRAMES.get(int(actual.frame), int(actual.frame))
    params = tuple(
        e if math.isnan(e) and (a == 0.0 or math.isnan(a)) else a
        for e, a in zip(expected.params, actual.params, strict=True)
    )
    if not _has_position(int(expected.command)):
        return replace(
            actual,
            frame=expected.frame,
            params=params,
            lat=expected.lat,
            lon=expected.lon,
            alt=expected.alt,
        )
    return replace(actual, frame=frame, params=params)


def _first_field(expected: MissionItem, actual: MissionItem, tolerance_deg: float) -> str:
    probes = [
        ("command", lambda e, a: replace(e, command=a.command)),
        ("frame", lambda e, a: replace(e, frame=a.frame)),
        *(
            (f"param{i + 1}", lambda e, a, i=i: replace(e, params=_swap(e.params, a.params, i)))
            for i in range(4)
        ),
        ("lat", lambda e, a: replace(e, lat=a.lat)),
        ("lon", lambda e, a: replace(e, lon=a.lon)),
        ("alt", lambda e, a: replace(e, alt=a.alt)),
        ("autocontinue", lambda e, a: replace(e, autocontinue=a.autocontinue)),
    ]
    for name, take in probes:
        if not take(expected, actual).same_as(expected, position_tolerance_deg=tolerance_deg):
            return name
    return "item"


def _swap(mine: tuple[float, ...], theirs: tuple[float, ...], i: int) -> tuple[float, ...]:
    return tuple(theirs[k] if k == i else mine[k] for k in range(4))  # type: ignore[return-value]


def _field_value(item: MissionItem, name: str) -> object:
    if name.startswith("param"):
        return item.params[int(name[5:]) - 1]
    if name in ("command", "frame"):
        return int(getattr(item, name))
    return getattr(item, name, item)


def compare_items(
    expected: Sequence[MissionItem],
    actual: Sequence[MissionItem],
    *,
    position_tolerance_deg: float = 1e-7,
) -> Mismatch | None:
    """The first item where the vehicle's list differs from the plan, or None if they agree.

    Uses :meth:`MissionItem.same_as` (commands, frames, params, positions to 1e-7°) after undoing
    re-encodings every vehicle does (MISSION_ITEM_INT frames, NaN params stored as 0, positions on
    items that have none).
    """
    for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
        a = _normalised(e, a)
        if not a.same_as(e, position_tolerance_deg=position_tolerance_deg):
            name = _first_field(e, a, position_tolerance_deg)
            return Mismatch(index, name, _field_value(e, name), _field_value(a, name))
    if len(expected) != len(actual):
        return Mismatch(min(len(expected), len(actual)), "count", len(expected), len(actual))
    return None


# --------------------------------------------------------------------------- state machines (pure)


class _Machine:
    """Shared bookkeeping: which list, whom to address, whether finished, progress."""

    step: Step

    def __init__(self, *, mission_type: int, target_system: int, target_component: int) -> None:
        self.mission_type = int(mission_type)
        self.target_system = target_system
        self.target_component = target_component
        self.done = False
        self.busy = False  # the vehicle asked us to come back later ("no space"/"denied" at boot)
        self.busy_result = NO_SPACE  # the answer that made it busy (DENIED: another uploader)
        self.progress = (0, 0)

    @property
    def what(self) -> str:
        return _TYPE_NAMES.get(MissionType(self.mission_type), f"type {self.mission_type}")

    def _mine(self, message: Message) -> bool:
        return getattr(message, "mission_type", 0) == self.mission_type

    def _ack(self, result: int = ACCEPTED) -> Message:
        return dialect.MAVLink_mission_ack_message(
            target_system=self.target_system,
            target_component=self.target_component,
            type=result,
            mission_type=self.mission_type,
        )

    def _request_list(self) -> Message:
        return dialect.MAVLink_mission_request_list_message(
            target_system=self.target_system,
            target_component=self.target_component,
            mission_type=self.mission_type,
        )

    def _step(self, verb: str) -> Text:
        """This list's ``verb`` (upload, download, clear) as its errors name it."""
        return _STEPS[verb][MissionType(self.mission_type)]

    def waiting_for(self) -> Text:
        """What the machine waits for, for timeout messages."""
        return msg("an answer")


class UploadMachine(_Machine):
    """Sends ``items`` (sequence numbers 0..n-1): MISSION_COUNT, then items on request, then ACK.

    On a timeout it re-sends the last requested item *and* the next ones (one more per consecutive
    miss, up to four): if the vehicle's request for the next item was lost, the vehicle takes it at
    once instead of waiting for its own re-request; if our item was lost, it takes the re-sent one.
    Vehicles ignore (or answer MAV_MISSION_INVALID_SEQUENCE to) an item they do not expect.
    """

    def __init__(self, items: Sequence[MissionItem], **ids: int) -> None:
        super().__init__(**ids)
        self.items = tuple(items)
        self.step = self._step("upload")
        self.progress = (0, len(self.items))
        self.start()

    def start(self) -> list[Message]:
        self.busy = False
        self.sent: set[int] = set()
        self.last_requested: int | None = None
        self.confirming = False  # last item sent, final ACK missing: reading the count back
        self.confirm_tries = 0
        self.misses = 0
        self.pending_error: int | None = None
        return [self._count()]

    def _count(self) -> Message:
        return dialect.MAVLink_mission_count_message(
            target_system=self.target_system,
            target_component=self.target_component,
            count=len(self.items),
            mission_type=self.mission_type,
        )

    def _item(self, seq: int) -> Message:
        self.sent.add(seq)
        return item_to_message(
            self.items[seq],
            seq,
            target_system=self.target_system,
            target_component=self.target_component,
            mission_type=self.mission_type,
        )

    @property
    def last_sent(self) -> bool:
        """Whether the final item has gone out at least once (so an ACCEPTED can be ours)."""
        return not self.items or len(self.items) - 1 in self.sent

    def on_message(self, message: Message) -> list[Message]:
        kind = message.get_type()
        if not self._mine(message):
            return []
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            seq = int(message.seq)
            if not 0 <= seq < len(self.items):
                return []  # stale request from an earlier, longer transfer
            self.last_requested = seq
            self.misses = 0
            self.pending_error = None
            self.progress = (max(self.progress[0], seq), len(self.items))
            self.confirming = False
            return [self._item(seq)]
        if kind == "MISSION_COUNT" and self.confirming:
            if int(message.count) == len(self.items):
                return self._finish()
            if self.pending_error is not None:
                raise mission_result_error(
                    self.pending_error, step=msg("%(step)s (last item)", step=self.step)
                )
            return []  # still the old list: the vehicle is waiting for our last item
        if kind == "MISSION_ACK":
            result = int(message.type)
            if result == ACCEPTED:
                return self._finish() if self.last_sent else []
            if result in (NO_SPACE, DENIED) and self.last_requested is None:
                self.busy, self.busy_result = True, result
                return []
            if result == INVALID_SEQUENCE:
                return []  # a duplicate item on a lossy link; the vehicle re-requests what it needs
            if self.confirming and result == DENIED:
                return []  # our count request reached a vehicle still receiving
            if result == GENERIC_ERROR and self.last_sent:
                # A duplicate item reached a vehicle that had already finished (and whose ACK may
                # have been lost), or the vehicle refused the last item: the count tells which.
                self.confirming = True
                self.pending_error = result
                return [self._request_list()]
            step = self.step
            if self.last_requested is not None:
                step = msg(
                    "%(step)s (at item %(seq)s of %(count)s, the last one sent)",
                    step=self.step,
                    seq=self.last_requested,
                    count=len(self.items),
                )
            raise mission_result_error(result, step=step)
        return []

    def _finish(self) -> list[Message]:
        self.done = True
        self.progress = (len(self.items), len(self.items))
        return [self._ack()] if self.confirming else []

    def on_timeout(self) -> list[Message]:
        if self.last_requested is None:
            return [self._count()]
        last = len(self.items) - 1
        if self.last_requested == last:
            # The last item went out but no ACK came: the item or the ACK was lost. Re-send the
            # item (a vehicle still waiting accepts it); from the second try on, also read the
            # count back (a vehicle that finished answers with the new count).
            self.confirming = True
            self.confirm_tries += 1
            again = [self._item(last)]
            return again if self.confirm_tries == 1 else [*again, self._request_list()]
        # Re-send the requested item and push a few beyond it, one more per consecutive miss.
        self.misses += 1
        end = min(self.last_requested + min(self.misses, 4), last)
        return [self._item(seq) for seq in range(self.last_requested, end + 1)]

    def waiting_for(self) -> Text:
        if self.last_requested is None:
            return msg(
                "the first item request after MISSION_COUNT=%(count)s", count=len(self.items)
            )
        if self.last_requested == len(self.items) - 1:
            return msg("the final MISSION_ACK")
        return msg(
            "a request after item %(seq)s of %(count)s",
            seq=self.last_requested,
            count=len(self.items),
        )


class DownloadMachine(_Machine):
    """Reads a list: MISSION_REQUEST_LIST → MISSION_COUNT → MISSION_REQUEST_INT per item → ACK.

    Keeps up to ``window`` requests in flight (as MAVProxy does); ``window=1`` is the strict
    one-at-a-time exchange. Items may arrive in any order; a timeout re-requests the missing ones.
    """

    def __init__(self, *, window: int = 1, **ids: int) -> None:
        super().__init__(**ids)
        self.step = self._step("download")
        self.window = max(1, int(window))
        self.count: int | None = None
        self.received: dict[int, MissionItem] = {}
        self.in_flight: set[int] = set()
        self._cursor = 0  # every seq below it has been received

    def start(self) -> list[Message]:
        self.busy = False
        return [self._request_list()]

    def _request(self, seq: int) -> Message:
        self.in_flight.add(seq)
        return dialect.MAVLink_mission_request_int_message(
            target_system=self.target_system,
            target_component=self.target_component,
            seq=seq,
            mission_type=self.mission_type,
        )

    def _missing(self) -> Iterator[int]:
        assert self.count is not None
        while self._cursor < self.count and self._cursor in self.received:
            self._cursor += 1
        return (s for s in range(self._cursor, self.count) if s not in self.received)

    def _advance(self) -> list[Message]:
        requests = []
        missing = False
        for seq in self._missing():
            missing = True
            if len(self.in_flight) >= self.window:
                break
            if seq not in self.in_flight:
                requests.append(self._request(seq))
        if not missing:
            self.done = True
            return [self._ack()]
        return requests

    @property
    def items(self) -> list[MissionItem]:
        assert self.count is not None
        return [self.received[s] for s in range(self.count)]

    def on_message(self, message: Message) -> list[Message]:
        kind = message.get_type()
        if not self._mine(message):
            return []
        if kind == "MISSION_COUNT":
            if self.count is not None:
                return []  # duplicate answer to a re-sent MISSION_REQUEST_LIST
            self.count = int(message.count)
            self.progress = (0, self.count)
            return self._advance()
        if kind in ("MISSION_ITEM_INT", "MISSION_ITEM") and self.count is not None:
            seq = int(message.seq)
            if 0 <= seq < self.count and seq not in self.received:
                self.received[seq] = message_to_item(message)
                self.in_flight.discard(seq)
                self.progress = (len(self.received), self.count)
                return self._advance()
            return []
        if kind == "MISSION_ACK" and int(message.type) != ACCEPTED:
            if int(message.type) in (NO_SPACE, DENIED) and self.count is None:
                self.busy, self.busy_result = True, int(message.type)
                return []
            raise mission_result_error(int(message.type), step=self.step)
        return []

    def on_timeout(self) -> list[Message]:
        if self.count is None:
            return [self._request_list()]
        self.in_flight.clear()  # whatever was in flight is lost: ask again
        return self._advance()

    def waiting_for(self) -> Text:
        if self.count is None:
            return msg("MISSION_COUNT after MISSION_REQUEST_LIST")
        return msg("item %(seq)s of %(count)s", seq=next(self._missing(), None), count=self.count)


class ClearMachine(_Machine):
    """MISSION_CLEAR_ALL → MISSION_ACK."""

    def __init__(self, **ids: int) -> None:
        super().__init__(**ids)
        self.step = self._step("clear")

    def start(self) -> list[Message]:
        self.busy = False
        return [
            dialect.MAVLink_mission_clear_all_message(
                target_system=self.target_system,
                target_component=self.target_component,
                mission_type=self.mission_type,
            )
        ]

    def on_message(self, message: Message) -> list[Message]:
        if message.get_type() != "MISSION_ACK" or not self._mine(message):
            return []
        result = int(message.type)
        if result == ACCEPTED:
            self.done = True
        elif result in (NO_SPACE, DENIED):
            self.busy, self.busy_result = True, result
        else:
            raise mission_result_error(result, step=self.step)
        return []

    def on_timeout(self) -> list[Message]:
        return self.start()

    def waiting_for(self) -> Text:
        return msg("MISSION_ACK after MISSION_CLEAR_ALL")


class SetCurrentMachine(_Machine):
    """MISSION_SET_CURRENT(seq) → MISSION_CURRENT showing seq."""

    def __init__(self, seq: int, **ids: int) -> None:
        super().__init__(mission_type=MissionType.MISSION, **ids)
        self.seq = seq
        self.step = msg("set current mission item %(seq)s", seq=seq)

    def start(self) -> list[Message]:
        return [
            dialect.MAVLink_mission_set_current_message(
                target_system=self.target_system,
                target_component=self.target_component,
                seq=self.seq,
            )
        ]

    def on_message(self, message: Message) -> list[Message]:
        if message.get_type() == "MISSION_CURRENT" and int(message.seq) == self.seq:
            self.done = True
        elif (
            message.get_type() == "MISSION_ACK"
            and self._mine(message)
            and int(message.type) == INVALID_SEQUENCE
        ):
            raise mission_result_error(INVALID_SEQUENCE, step=self.step)
        return []

    def on_timeout(self) -> list[Message]:
        return self.start()

    def waiting_for(self) -> Text:
        return msg("MISSION_CURRENT showing item %(seq)s", seq=self.seq)


# --------------------------------------------------------------------------- the driver


def run_transfer(
    channel: Channel,
    machine: UploadMachine | DownloadMachine | ClearMachine | SetCurrentMachine,
    *,
    settings: TransferSettings = TransferSettings(),
    on_progress: ProgressCallback | None = None,
) -> None:
    """Drive ``machine`` over ``channel`` until done; time out with back-off and retry when busy.

    A wait ends when the machine has something to send, finishes, or the timeout passes; any
    progress resets the timeout and the miss count, so only a silent vehicle exhausts the retries.
    """
    busy_tries = 0
    outgoing = machine.start()
    timeout = settings.timeout_s
    misses = 0
    last_progress = machine.progress
    deadline = time.monotonic() + timeout
    while True:
        for message in outgoing:
            channel.send(message)
        if outgoing:
            deadline = time.monotonic() + timeout
        outgoing = []
        if machine.progress != last_progress:
            last_progress = machine.progress
            misses = 0
            timeout = settings.timeout_s
            deadline = time.monotonic() + timeout
            if on_progress is not None:
                on_progress(*machine.progress)
        if machine.done:
            return
        if machine.busy:
            busy_tries += 1
            if busy_tries > settings.busy_retries:
                raise mission_result_error(
                    machine.busy_result,
                    step=msg(
                        "%(step)s (still refused after %(retries)s retries)",
                        step=machine.step,
                        retries=settings.busy_retries,
                    ),
                )
            time.sleep(settings.busy_delay_s)
            outgoing = machine.start()
            continue
        remaining = deadline - time.monotonic()
        if remaining > 0:
            message = channel.recv(remaining)
            if message is not None and _from_target(channel, message):
                outgoing = machine.on_message(message)
            continue
        misses += 1
        if misses > settings.retries:
            raise LinkTimeout(
                msg(
                    "%(step)s: no answer from the vehicle while waiting for %(waiting)s (tried "
                    "%(tries)s times)",
                    step=machine.step,
                    waiting=machine.waiting_for(),
                    tries=settings.retries + 1,
                )
            )
        timeout = min(timeout * settings.backoff, settings.max_timeout_s)
        outgoing = machine.on_timeout()


def _from_target(channel: Channel, message: Message) -> bool:
    target = channel.target_system
    return target == 0 or message.get_srcSystem() == target


def _ids(channel: Channel, mission_type: int) -> dict[str, int]:
    return {
        "mission_type": int(mission_type),
        "target_system": channel.target_system,
        "target_component": channel.target_component,
    }


def upload_list(
    channel: Channel,
    items: Sequence[MissionItem],
    *,
    mission_type: int = MissionType.MISSION,
    settings: TransferSettings = TransferSettings(),
    on_progress: ProgressCallback | None = None,
) -> None:
    """Upload ``items`` as sequence 0..n-1 of one list (for the mission, item 0 must be home)."""
    machine = UploadMachine(items, **_ids(channel, mission_type))
    run_transfer(channel, machine, settings=settings, on_progress=on_progress)


def download_list(
    channel: Channel,
    *,
    mission_type: int = MissionType.MISSION,
    settings: TransferSettings = TransferSettings(),
    on_progress: ProgressCallback | None = None,
) -> list[MissionItem]:
    """Every item of one list as the vehicle stores it (for the mission, item 0 is home)."""
    machine = DownloadMachine(window=settings.download_window, **_ids(channel, mission_type))
    run_transfer(channel, machine, settings=settings, on_progress=on_progress)
    return machine.items


def clear_list(
    channel: Channel,
    *,
    mission_type: int = MissionType.MISSION,
    settings: TransferSettings = TransferSettings(),
) -> None:
    """Delete one list on the vehicle."""
    run_transfer(channel, ClearMachine(**_ids(channel, mission_type)), settings=settings)


def set_current(
    channel: Channel, seq: int, *, settings: TransferSettings = TransferSettings()
) -> None:
    """Make mission item ``seq`` (vehicle numbering, 1 = the plan's first item) the next to fly."""
    ids = {"target_system": channel.target_system, "target_component": channel.target_component}
    run_transfer(channel, SetCurrentMachine(seq, **ids), settings=settings)


# --------------------------------------------------------------------------- whole plans


@dataclass(frozen=True, slots=True)
class VehicleLists:
    """The three lists read from a vehicle; ``mission`` without ArduPilot's home item 0."""

    mission: tuple[MissionItem, ...]
    fence: tuple[MissionItem, ...]
    rally: tuple[MissionItem, ...]
    home: MissionItem | None


def plan_lists(plan: MissionPlan) -> dict[MissionType, list[MissionItem]]:
    """The three lists as sent on the wire: the mission with home prepended, fence and rally."""
    return {
        MissionType.MISSION: [home_item(plan), *plan.items],
        MissionType.FENCE: fence_items(plan),
        MissionType.RALLY: rally_items(plan),
    }


#: Heights above home a mission item may fly at: the planner's limits (PlanSettings.altitude_m).
MIN_ALTITUDE_M, MAX_ALTITUDE_M = 10.0, 500.0
#: MAV_FRAMEs whose altitude is above home or terrain (plain, _INT and terrain variants).
RELATIVE_FRAMES = frozenset({3, 6, 10, 11})
#: Navigation commands whose altitude the vehicle ignores (RTL: RTL_ALT; LAND: the ground).
NO_ALTITUDE = frozenset({Command.NAV_RETURN_TO_LAUNCH, Command.NAV_LAND})


def altitude_problem(index: int, item: MissionItem) -> Text | None:
    """Why mission item ``index`` (plan numbering) must not fly where it says, or None.

    Only navigation items in a relative frame are checked: a takeoff must climb (above 0 m),
    every other positioned item stay within the planner's MIN_ALTITUDE_M..MAX_ALTITUDE_M.
    DO_ commands, RTL and LAND carry no altitude the vehicle flies to.
    """
    if item.command >= 100 or item.command in NO_ALTITUDE or item.frame not in RELATIVE_FRAMES:
        return None
    alt = float(item.alt)
    name = _command_label(item.command)
    where = msg(
        "mission item %(index)s (vehicle seq %(seq)s, %(command)s)",
        index=index,
        seq=index + 1,
        command=name,
    )
    if item.command == Command.NAV_TAKEOFF:
        if math.isfinite(alt) and 0.0 < alt <= MAX_ALTITUDE_M:
            return None
        return msg(
            "%(item)s: takeoff altitude %(altitude)s m above home; it must be above 0 m and at "
            "most %(max)s m",
            item=where,
            altitude=f"{alt:g}",
            max=f"{MAX_ALTITUDE_M:g}",
        )
    if math.isfinite(alt) and MIN_ALTITUDE_M <= alt <= MAX_ALTITUDE_M:
        return None
    return msg(
        "%(item)s: altitude %(altitude)s m above home is outside %(min)s to %(max)s m",
        item=where,
        altitude=f"{alt:g}",
        min=f"{MIN_ALTITUDE_M:g}",
        max=f"{MAX_ALTITUDE_M:g}",
    )


def _command_label(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        entry = dialect.enums["MAV_CMD"].get(int(command))
        return entry.name.removeprefix("MAV_CMD_") if entry is not None else f"command {command}"


def check_altitudes(plan: MissionPlan) -> None:
    """UnsafePlan naming the first mission item whose altitude is out of limits (see
    :func:`altitude_problem`); run before anything is uploaded."""
    for index, item in enumerate(plan.items):
        problem = altitude_problem(index, item)
        if problem is not None:
            raise UnsafePlan(msg("upload refused: %(problem)s", problem=problem))


def upload_plan(
    channel: Channel,
    plan: MissionPlan,
    *,
    settings: TransferSettings = TransferSettings(),
    on_progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Upload mission (home as item 0, the plan's items from 1), fence and rally.

    Empty fence and rally lists are uploaded too, so the vehicle ends up holding exactly the plan.
    A plan with an altitude out of limits is refused first (UnsafePlan, nothing sent).
    """
    check_altitudes(plan)
    for mission_type, items in plan_lists(plan).items():
        what = _TYPE_NAMES[mission_type]
        callback = None if on_progress is None else _tagged(on_progress, what)
        upload_list(
            channel, items, mission_type=mission_type, settings=settings, on_progress=callback
        )


def _tagged(callback: Callable[[str, int, int], None], what: str) -> ProgressCallback:
    return lambda done, total: callback(what, done, total)


def download_plan(
    channel: Channel,
    *,
    settings: TransferSettings = TransferSettings(),
    on_progress: Callable[[str, int, int], None] | None = None,
) -> VehicleLists:
    """Read mission, fence and rally back; ArduPilot's home (mission item 0) is split off."""
    lists: dict[MissionType, list[MissionItem]] = {}
    for mission_type in MissionType:
        callback = None if on_progress is None else _tagged(on_progress, _TYPE_NAMES[mission_type])
        lists[mission_type] = download_list(
            channel, mission_type=mission_type, settings=settings, on_progress=callback
        )
    mission = lists[MissionType.MISSION]
    return VehicleLists(
        mission=tuple(mission[1:]),
        fence=tuple(lists[MissionType.FENCE]),
        rally=tuple(lists[MissionType.RALLY]),
        home=mission[0] if mission else None,
    )


def verify_plan(
    channel: Channel,
    plan: MissionPlan,
    *,
    settings: TransferSettings = TransferSettings(),
    on_progress: Callable[[str, int, int], None] | None = None,
) -> VehicleLists:
    """Download every list and compare it with the plan; raise VerifyError naming the first
    differing item. Home (item 0) is not compared: ArduPilot overwrites it with its own."""
    lists = download_plan(channel, settings=settings, on_progress=on_progress)
    checks = (
        ("mission", list(plan.items), list(lists.mission), 1),
        ("fence", fence_items(plan), list(lists.fence), 0),
        ("rally", rally_items(plan), list(lists.rally), 0),
    )
    for what, expected, actual, offset in checks:
        mismatch = compare_items(expected, actual)
        if mismatch is not None:
            raise VerifyError(
                msg("verify: %(mismatch)s", mismatch=mismatch.message(what=what, offset=offset)),
                index=None if mismatch.field == "count" else mismatch.index,
            )
    return lists
