"""A TCP relay between a ground station and a vehicle that tests can make misbehave as a radio
link or a VPN does: lose frames (``drop``), go silent with the connection still open (``cut``,
optionally holding what was said and delivering it in one late burst), or go down altogether
(``disconnect``, refusing reconnects until ``listen``). Frames are split on their MAVLink
framing, so a lost one goes whole."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

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
    """Relay ``tcp:127.0.0.1:<port>`` (see :attr:`url`) to the vehicle at ``target``
    (``tcp:HOST:PORT``); a context manager that listens on entry and closes everything on exit.

    ``drop`` (0..1, may be changed at any time) loses that fraction of frames at random, seeded;
    :meth:`cut` silences the link; :meth:`disconnect` closes it. ``dropped`` counts the frames
    lost (by ``drop`` or a cut that does not hold), ``accepted`` the connections relayed.
    """

    def __init__(self, target: str, *, drop: float = 0.0, seed: int = 1) -> None:
        _, host, port = target.split(":")
        self.target = (host, int(port))
        self.drop = drop
        self.dropped = 0
        self.accepted = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._send_lock = threading.RLock()  # held frames go out before anything newer
        self._cut_until = 0.0
        self._hold = False
        self._held: list[tuple[socket.socket, bytes]] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener: socket.socket | None = self._bind(0)
        self.port: int = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    @property
    def cutting(self) -> bool:
        """Whether a cut is on now."""
        return time.monotonic() < self._cut_until

    def __enter__(self) -> LossyRelay:
        threading.Thread(target=self._release, daemon=True).start()
        return self.listen()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.disconnect()

    def cut(self, seconds: float | None = None, *, hold: bool = False) -> None:
        """Let nothing through either way for ``seconds`` (``None``: until :meth:`resume`), the
        connection left open; ``hold``: keep it all and deliver it when the cut ends."""
        until = float("inf") if seconds is None else time.monotonic() + seconds
        with self._lock:
            self._cut_until, self._hold = until, hold

    def resume(self) -> None:
        """End a cut now, delivering what it held."""
        with self._lock:
            self._cut_until = 0.0
        self._flush()

    def disconnect(self) -> None:
        """Close every relayed connection and stop listening: reconnects are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        for sock in [s for s in (listener,) if s is not None] + sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def listen(self) -> LossyRelay:
        """Accept connections (again, on the same port, after :meth:`disconnect`)."""
        with self._lock:
            listener = self._listener = self._listener or self._bind(self.port)
        listener.listen(4)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    @staticmethod
    def _bind(port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # disconnected meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        buffer = bytearray()
        try:
            while data := source.recv(65536):
                buffer += data
                frames, buffer = split_frames(buffer)
                kept: list[bytes] = []
                with self._lock:
                    cutting = time.monotonic() < self._cut_until
                    for frame in frames:
                        if cutting and self._hold:
                            self._held.append((sink, frame))
                        elif cutting or self._random.random() < self.drop:
                            self.dropped += 1
                        else:
                            kept.append(frame)
                if kept:
                    with self._send_lock:
                        self._flush()
                        sink.sendall(b"".join(kept))
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _flush(self) -> None:
        """Send what a holding cut kept, in order, once the cut is over."""
        with self._send_lock:
            with self._lock:
                if time.monotonic() < self._cut_until:
                    return
                held, self._held = self._held, []
            for sink, frame in held:
                with contextlib.suppress(OSError):
                    sink.sendall(frame)

    def _release(self) -> None:
        """Deliver what a holding cut kept as soon as it ends, whether or not more comes."""
        while not self._stop.wait(0.02):
            self._flush()
