"""Photos the vehicle took while the link was down count as taken as soon as the link is back,
not only when a later photo's feedback shows the gap or the landing asks for the image count:
the vehicle's CAMERA_CAPTURE_STATUS (its image count) is streamed, and asked for again with the
other streams whenever the link is reopened."""

from __future__ import annotations

import pytest

from missions.link import connect
from missions.link.errors import LinkLost
from tests.link.conftest import HOME
from tests.link.test_reconnect import LOOPBACK
from tests.lossy_relay import LossyRelay

MAV_CMD_DO_DIGICAM_CONTROL = 203


def take_photo(gcs) -> None:
    """Trigger the vehicle's camera once (DO_DIGICAM_CONTROL, shoot)."""
    gcs.command(MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1, step="take a photo")


def taken(snapshot) -> int:
    return snapshot.photos + snapshot.photos_unreported


def test_photos_taken_while_the_link_was_down_count_once_it_is_back() -> None:
    from simulator import Sitl

    with (
        Sitl(home=HOME, speedup=5, params={"CAM1_TYPE": 1}) as sitl,
        LossyRelay(sitl.connection_string) as proxy,
        connect(proxy.url, timeout=30, settings=LOOPBACK) as vehicle,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as other_gcs,
    ):
        vehicle.request_streams()
        for _ in range(2):
            take_photo(vehicle)
        before = vehicle.wait_for(lambda t: t.photos == 2, timeout=10, step="2 photos reported")
        assert taken(before) == 2

        proxy.disconnect()
        with pytest.raises(LinkLost):
            vehicle.pump(2.0)
        for _ in range(3):  # taken while nobody listens on our link; no photo follows them
            take_photo(other_gcs)
        assert sitl.autopilot.photo_count == 5

        proxy.listen()
        vehicle.reconnect(timeout=2.0)
        back = vehicle.wait_for(lambda t: taken(t) == 5, timeout=10, step="5 photos taken")
    assert (back.photos, back.photos_unreported) == (2, 3)
