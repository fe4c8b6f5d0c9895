"""Simulated time: seconds since boot that run `speedup` times faster than the wall clock.

The stepping thread asks :meth:`SimClock.due` how far the simulation should have advanced and then
calls :meth:`advance` once per physics step, so simulated time is exact and reproducible in steps
while still tracking the wall clock. :meth:`rebase` forgets a pause (e.g. before the start).

The vehicle's UTC clock (photo EXIF times, SYSTEM_TIME, CAMERA_FEEDBACK) is the real time at which
the simulation reached an instant, :meth:`SimClock.unix_time`: sped up, a 20-minute survey flown
in 12 s stamps its photos within those 12 s. Counting simulated seconds from the start instead
would put them up to 20 minutes in the future, after everything the ground station does with
them (tickets filed from the photos would predate the photos).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from simulator.errors import SimulatorConfigError

__all__ = ["SimClock"]


class SimClock:
    """Fixed-step simulated time tied to a (monotonic) wall clock by a speed-up factor."""

    def __init__(
        self,
        *,
        speedup: float = 1.0,
        step_s: float = 0.02,
        wall: Callable[[], float] = time.monotonic,
        unix: Callable[[], float] = time.time,
    ) -> None:
        if not speedup > 0:
            raise SimulatorConfigError(f"speed-up must be positive, got {speedup!r}")
        if not step_s > 0:
            raise SimulatorConfigError(f"step must be positive, got {step_s!r}")
        self.speedup = float(speedup)
        self.step_s = float(step_s)
        self._wall = wall
        self._unix = unix
        self._now = 0.0
        self._wall0 = wall()
        self._unix0 = unix()
        self._sim0 = 0.0

    @property
    def now(self) -> float:
        """Simulated seconds since boot."""
        return self._now

    @property
    def time_boot_ms(self) -> int:
        return int(self._now * 1000.0)

    def target(self) -> float:
        """Where simulated time should be now, from the wall clock."""
        return self._sim0 + (self._wall() - self._wall0) * self.speedup

    def steps_due(self, *, limit: int = 1000) -> int:
        """How many steps to run now to catch up with the wall clock (at most `limit`)."""
        behind = self.target() - self._now
        if behind < self.step_s:
            return 0
        return min(limit, int(behind / self.step_s + 1e-6))

    def advance(self) -> float:
        """Move simulated time on by one step; returns the new time."""
        self._now += self.step_s
        return self._now

    def wall_until_next_step(self) -> float:
        """Wall seconds until the next step is due (0 if already due)."""
        return max(0.0, (self._now + self.step_s - self.target()) / self.speedup)

    def unix_time(self, sim_s: float) -> float:
        """UTC (seconds since the epoch) at which simulated second ``sim_s`` was due: never ahead
        of the real clock for an instant already simulated, whatever the speed-up."""
        return self._unix0 + (sim_s - self._sim0) / self.speedup

    def rebase(self) -> None:
        """Continue from the current simulated time as if the wall clock had just started."""
        self._wall0 = self._wall()
        self._unix0 = self._unix()
        self._sim0 = self._now
