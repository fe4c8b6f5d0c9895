"""A photo folder registered twice at the same moment (two clicks, two pilots, a retried
request) becomes one flight: the second registration sees the first's flight and is refused
unless forced, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from conftest import write_photo
from sqlalchemy import func, select

from groundstation import ingest
from groundstation.ingest import DuplicateSourceError, register_photos
from groundstation.models import Flight


def _flights_from(env, folder: Path) -> int:
    with env.storage().session() as session:
        source = str(folder.resolve())
        return session.scalar(select(func.count(Flight.id)).where(Flight.source == source)) or 0


def _register_twice_at_once(env, folder: Path, monkeypatch, **options) -> list[object]:
    """Two registrations of ``folder`` in two threads, each holding still after its check for
    an earlier flight until the other has checked too (or cannot, because it waits its turn):
    the flight ids and errors they ended with."""
    both_checked = threading.Barrier(2)
    check = ingest.flights_from_source

    def check_and_hold(session, source):
        found = check(session, source)
        # broken when the other registration waits for this one to finish
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=2.0)
        return found

    monkeypatch.setattr(ingest, "flights_from_source", check_and_hold)
    outcomes: list[object] = []

    def register() -> None:
        try:
            registration = register_photos(env.storage(), folder, allow_unplaced=True, **options)
            outcomes.append(registration.flight_id)
        except DuplicateSourceError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_one_folder_registered_twice_at_once_is_one_flight(env, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "sd-card"
    write_photo(folder / "DJI_0001.jpg", (90, 120, 60))
    outcomes = _register_twice_at_once(env, folder, monkeypatch)
    flight_ids = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, DuplicateSourceError)]
    assert len(flight_ids) == 1 and len(refused) == 1, outcomes
    assert refused[0].flight_ids == (flight_ids[0],)
    assert _flights_from(env, folder) == 1


def test_forced_registrations_at_once_are_both_stored(env, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "sd-card"
    write_photo(folder / "DJI_0001.jpg", (90, 120, 60))
    outcomes = _register_twice_at_once(env, folder, monkeypatch, allow_duplicate=True)
    assert all(isinstance(o, int) for o in outcomes) and len(set(outcomes)) == 2, outcomes
    assert _flights_from(env, folder) == 2
