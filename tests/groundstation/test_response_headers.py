"""Headers every response carries: no sniffing, no framing by other sites."""

from __future__ import annotations


def test_pages_refuse_sniffing_and_framing(env) -> None:
    response = env.client().get("/login")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_map_library_may_be_cached_by_anyone(env) -> None:
    response = env.client().get("/vendor/leaflet/leaflet.js")
    assert response.status_code == 200
    assert response.cache_control.public and not response.cache_control.private
