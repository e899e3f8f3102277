"""The runner's log masks a task's secrets as `***` (logcap.py), whichever way its output is cut
into chunks, and with the log cap applied after the masking."""

from __future__ import annotations

import os
import random
from pathlib import Path

from air_executor_runner.logcap import CappedLog

WORDS = ["s3cr3t-value", "cr3t", "abcdef", "cd"]


def _through_log(path: Path, chunks: list[bytes], cap: int | None = None, mask: list[str] | None = None) -> bytes:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        log = CappedLog(fd, cap, mask=WORDS if mask is None else mask)
        for chunk in chunks:
            log.write(chunk)
        log.close()
    finally:
        os.close(fd)
    return path.read_bytes()


def _cut(data: bytes, rng: random.Random) -> list[bytes]:
    chunks, at = [], 0
    while at < len(data):
        step = rng.randint(1, 6)
        chunks.append(data[at : at + step])
        at += step
    return chunks


def test_no_secret_survives_any_cut_of_the_output(tmp_path: Path) -> None:
    rng = random.Random(23)
    alphabet = b"s3cr3t-valueabcdefxy \n"
    for _ in range(2000):
        noise = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        secret = rng.choice(WORDS).encode()
        at = rng.randint(0, len(noise))
        text = noise[:at] + secret + noise[at:]
        out = _through_log(tmp_path / "t.log", _cut(text, rng))
        assert not any(word.encode() in out for word in WORDS), (text, out)
        assert b"***" in out


def test_plain_output_is_kept_byte_for_byte_and_nothing_is_held_at_the_end(tmp_path: Path) -> None:
    text = b"progress: 50% s3cr"  # ends inside what could be a secret, and is not one
    assert _through_log(tmp_path / "t.log", [text[:15], text[15:]]) == text
    assert _through_log(tmp_path / "t.log", [b"a s3cr3t-value b\n"]) == b"a *** b\n"


def test_the_cap_counts_the_masked_output(tmp_path: Path) -> None:
    line = b"s3cr3t-value " * 10_000
    out = _through_log(tmp_path / "t.log", [line[i : i + 4096] for i in range(0, len(line), 4096)], cap=8192)
    assert b"s3cr3t" not in out and b"*** ***" in out and b"bytes of output dropped" in out
