"""A lossy TCP relay between a ground station and a vehicle, as a flaky radio is: it keeps the
connection open but drops MAVLink frames, all of them while ``cut`` (radio silence) or each with
probability ``drop``. Frames are split on their MAVLink framing, so a dropped one goes whole."""

from __future__ import annotations

import contextlib
import random
import socket
import threading

__all__ = ["LossyRelay", "split_frames"]


def split_frames(buffer: bytearray) -> tuple[list[bytes], bytearray]:
    """Whole MAVLink v1/v2 frames at the start of ``buffer`` and the bytes left over."""
    frames: list[bytes] = []
    i = 0
    while True:
        while i < len(buffer) and buffer[i] not in (0xFD, 0xFE):
            i += 1  # resynchronise on a start byte
        if i >= len(buffer):
            return frames, bytearray()
        if buffer[i] == 0xFD:
            if len(buffer) - i < 10:
                return frames, buffer[i:]
            size = 10 + buffer[i + 1] + 2 + (13 if buffer[i + 2] & 1 else 0)
        else:
            if len(buffer) - i < 6:
                return frames, buffer[i:]
            size = 6 + buffer[i + 1] + 2
        if len(buffer) - i < size:
            return frames, buffer[i:]
        frames.append(bytes(buffer[i : i + size]))
        i += size


class LossyRelay:
    """Relay ``tcp:127.0.0.1:<port>`` to the vehicle at ``target`` (``tcp:HOST:PORT``).

    Set ``cut`` to silence the link both ways without closing it, ``drop`` (0..1) to lose that
    fraction of frames; ``dropped`` counts the frames lost.
    """

    def __init__(self, target: str, *, drop: float = 0.0, seed: int = 1) -> None:
        _, host, port = target.split(":")
        self.target = (host, int(port))
        self.drop = drop
        self.cut = False
        self.dropped = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def __enter__(self) -> LossyRelay:
        self._listener.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _lose(self) -> bool:
        with self._lock:
            lost = self.cut or self._random.random() < self.drop
            self.dropped += lost
            return lost

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                return
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        buffer = bytearray()
        try:
            while data := source.recv(65536):
                buffer += data
                frames, buffer = split_frames(buffer)
                for frame in frames:
                    if not self._lose():
                        sink.sendall(frame)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
