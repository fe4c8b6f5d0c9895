"""Ticket API latency on loopback: p50/p95 with 50 concurrent clients, 1 client as baseline.

Runs the real app (embedded SQLite in a temporary data dir) on the server `gridpatrol serve` uses
(waitress, 32 threads) and mixes the
ticket API's calls: list (page of 20), detail with archive, and open-then-confirm (two writes).
Usage: python benchmarks/api.py [--clients 50] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import waitress
from werkzeug.security import generate_password_hash

from groundstation.app import create_app
from groundstation.models import ApiKey, User
from groundstation.tickets import Actor, open_ticket
from groundstation.web import hash_api_key

KEY = "bench-key"


def setup(data_dir: Path, tickets: int) -> object:
    app = create_app(
        {
            "DATA_DIR": str(data_dir),
            "JOB_WORKERS": 0,
            "ESCALATION_INTERVAL_S": 0,
            "SECRET_KEY": "bench",
        }
    )
    storage = app.extensions["gridpatrol"].storage
    with storage.session() as session:
        user = User(username="bench", role="supervisor", password_hash=generate_password_hash("x"))
        session.add(user)
        session.flush()
        session.add(ApiKey(name="bench", key_hash=hash_api_key(KEY), user_id=user.id))
        for i in range(tickets):
            open_ticket(
                session,
                label=("illegal_construction", "straw_burning")[i % 2],
                actor=Actor("bench", "supervisor"),
                lat=32.4,
                lon=119.9,
            )
        session.commit()
    return app


def call(base: str, method: str, path: str, body: dict | None = None) -> float:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
    elapsed = time.perf_counter() - start
    if method == "POST" and path == "/api/v1/tickets":
        ticket_id = json.loads(payload)["id"]
        elapsed += call(
            base,
            "POST",
            f"/api/v1/tickets/{ticket_id}/transitions",
            {"action": "confirm", "reason": "bench"},
        )
    return elapsed


def client(base: str, seed: int, requests: int, tickets: int) -> list[float]:
    out = []
    for i in range(requests):
        kind = (seed + i) % 4
        if kind == 0:
            out.append(call(base, "GET", "/api/v1/tickets?page_size=20"))
        elif kind == 3:
            out.append(
                call(
                    base,
                    "POST",
                    "/api/v1/tickets",
                    {"label": "illegal_fishing", "lat": 32.4, "lon": 119.9},
                )
            )
        else:
            out.append(call(base, "GET", f"/api/v1/tickets/{1 + (seed * 7 + i) % tickets}"))
    return out


def run(base: str, clients: int, requests: int, tickets: int) -> tuple[list[float], float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda s: client(base, s, requests, tickets), range(clients)))
    return [t for r in results for t in r], time.perf_counter() - start


def describe(name: str, times: list[float], wall: float) -> str:
    cuts = statistics.quantiles(times, n=100)
    return (
        f"{name:<22} n={len(times):5d}  p50={cuts[49] * 1000:7.1f} ms  "
        f"p95={cuts[94] * 1000:7.1f} ms  throughput={len(times) / wall:7.1f} req/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--tickets", type=int, default=500)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="gridpatrol-bench-") as tmp:
        app = setup(Path(tmp), args.tickets)
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=32)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            run(base, 4, 5, args.tickets)  # warm-up
            single, single_wall = run(base, 1, args.requests * 4, args.tickets)
            many, many_wall = run(base, args.clients, args.requests, args.tickets)
        finally:
            server.close()
            thread.join(5)
            app.extensions["gridpatrol"].storage.dispose()
    print("ticket API on loopback (SQLite, waitress); mix: list, detail, open+confirm")
    print(describe("baseline: 1 client", single, single_wall))
    print(describe(f"{args.clients} concurrent clients", many, many_wall))


if __name__ == "__main__":
    main()
