"""A task's output on its way to its log, capped (config `max_log_mb`, a task may lower it).

The task writes into a pipe; the runner copies it to `logs/<task>.log`. Up to the cap less the
tail it keeps, output goes to the log as it comes (`logs --follow` sees it live); past that a
marker line says the cap is reached, the runner keeps only the newest part in memory (at most
4 MiB), and when the task ends it writes how much was dropped and then that tail. So a task
printing without end leaves a log of about the cap, with its beginning and its end, and the disk
every other job shares is safe. The task's secrets are masked on the way (`***`), before the cap
counts. Imports nothing beyond `os` (and `re` to mask): the runner starts once per task.
"""

from __future__ import annotations

import os

TAIL_MAX = 4 << 20  # bytes of the end of the output kept in memory past the cap
MIB = 1 << 20


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return  # a full disk: output is lost, the task goes on (the outcome is what matters)
        view = view[written:]


def _size(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:g} MiB"
    return f"{size / 1024:g} KiB" if size >= 1024 else f"{size} bytes"


class Masker:
    """Replaces each of `words` (a task's secret values) with `***` in a stream of chunks, also where
    a chunk ends inside one: the end of a chunk that could be the start of a word is held back until
    the next chunk (or `flush`) says, so at most the longest word's length is ever held."""

    def __init__(self, words: list[bytes]) -> None:
        import re

        self.words = sorted({w for w in words if w}, key=len, reverse=True)
        self.pattern = re.compile(b"|".join(re.escape(w) for w in self.words))
        self.firsts = {w[0] for w in self.words}
        self.longest = len(self.words[0])
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        buf, out, pos = self.held + data, [], 0
        while True:
            hold = self._hold_from(buf, pos)
            match = self.pattern.search(buf, pos)
            if match is not None and match.start() < hold:
                out += [buf[pos : match.start()], MASK]
                pos = match.end()
                continue
            self.held = buf[hold:]
            out.append(buf[pos:hold])
            return b"".join(out)

    def _hold_from(self, buf: bytes, pos: int) -> int:
        """Where the longest end of `buf` (from `pos` on) that is a word's proper beginning starts."""
        for start in range(max(pos, len(buf) - self.longest + 1), len(buf)):
            if buf[start] in self.firsts:
                end = buf[start:]
                if any(len(w) > len(end) and w.startswith(end) for w in self.words):
                    return start
        return len(buf)

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        return self.pattern.sub(MASK, held)


MASK = b"***"


class CappedLog:
    def __init__(self, fd: int, cap: int | None, *, fail: bool = False, mask: list[str] | None = None) -> None:
        """`cap` in bytes (None: no cap); `fail`: past the cap the task is to be stopped (the
        caller asks `over`), rather than its output thinned; `mask`: words shown as `***` (secrets)."""
        self.fd, self.cap, self.fail = fd, cap, fail
        words = [w.encode("utf-8", "surrogateescape") for w in mask or () if w]
        self.masker = Masker(words) if words else None
        self.tail_size = 0 if cap is None or fail else min(cap // 2, TAIL_MAX)
        self.head_left = -1 if cap is None else cap - self.tail_size  # bytes still written as they come
        self.tail = bytearray()
        self.dropped = 0
        self.over = False

    def write(self, data: bytes) -> None:
        if self.masker is not None:
            data = self.masker.feed(data)
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self.head_left < 0:
            _write_all(self.fd, data)
            return
        if self.head_left > 0:
            part = data[: self.head_left]
            _write_all(self.fd, part)
            self.head_left -= len(part)
            data = data[len(part) :]
            if not data:
                return
        if not self.over:
            self.over = True
            assert self.cap is not None
            if self.fail:
                note = f"the log reached its cap of {_size(self.cap)}: the task is stopped (log_cap_action: fail)"
            else:
                note = (
                    f"the log reached its cap of {_size(self.cap)}: further output is dropped but for its "
                    f"last {_size(self.tail_size)}, added when the task ends"
                )
            _write_all(self.fd, f"\n[air-executor] {note}\n".encode())
        self.tail += data
        if len(self.tail) > 2 * self.tail_size:  # trimmed now and then, not on every write
            self._trim()

    def _trim(self) -> None:
        cut = len(self.tail) - self.tail_size
        if cut > 0:
            self.dropped += cut
            del self.tail[:cut]

    def close(self) -> None:
        """The task has ended: how much was dropped, then the end of its output."""
        if self.masker is not None:
            self._write(self.masker.flush())
        if not self.over:
            return
        self._trim()
        assert self.cap is not None
        kept = f"; its last {len(self.tail)} bytes follow" if self.tail else ""
        note = f"{self.dropped} bytes of output dropped (the log's cap is {_size(self.cap)}){kept}"
        _write_all(
            self.fd, f"\n[air-executor] {note}:\n".encode() if self.tail else f"\n[air-executor] {note}\n".encode()
        )
        _write_all(self.fd, bytes(self.tail))
        self.tail = bytearray()
