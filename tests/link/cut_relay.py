"""A TCP relay between a ground station and a vehicle whose link can go silent without closing.

A radio out of range, or a VPN that stalls: the connection stays open but nothing gets
through. ``cut(seconds)`` drops every byte both ways for that long (``hold=True`` keeps them
and delivers them all at once when the cut ends, as a stalled but lossless link does).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class CutRelay:
    """Relay ``tcp:127.0.0.1:<port>`` (see :attr:`url`) to the vehicle at ``target``."""

    def __init__(self, target: str) -> None:
        _, host, port = target.split(":")
        self.target = (host, int(port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(2)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._send_lock = threading.RLock()  # held data goes out before anything newer
        self._cut_until = 0.0
        self._hold = False
        self._held: list[tuple[socket.socket, bytes]] = []
        self._sockets: list[socket.socket] = []
        self.dropped = 0  # bytes dropped during cuts
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def __enter__(self) -> CutRelay:
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._release, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self, seconds: float, *, hold: bool = False) -> None:
        """Let nothing through for ``seconds``; ``hold``: deliver it all when the cut ends."""
        with self._lock:
            self._cut_until, self._hold = time.monotonic() + seconds, hold

    @property
    def cutting(self) -> bool:
        return time.monotonic() < self._cut_until

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(None)
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    cutting = time.monotonic() < self._cut_until
                    if cutting and self._hold:
                        self._held.append((sink, data))
                    elif cutting:
                        self.dropped += len(data)
                if not cutting:
                    with self._send_lock:
                        self._flush()
                        sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _flush(self) -> None:
        with self._send_lock:
            with self._lock:
                if time.monotonic() < self._cut_until:
                    return
                held, self._held = self._held, []
            for sink, data in held:
                with contextlib.suppress(OSError):
                    sink.sendall(data)

    def _release(self) -> None:
        """Deliver what a holding cut kept as soon as it ends, whether or not more comes."""
        while not self._stop.wait(0.02):
            self._flush()
