"""The robot's own voice as it is played, handed from speech out to speech in through shared memory.

The echo canceller needs the far end (what the loudspeaker plays) sample-aligned with the
microphone. On the robot speech out plays each sentence itself (hardware/sound_out.py) and
writes every 10 ms block it hands the sound card into this ring, with the monotonic time the
card will play its first sample (CLOCK_MONOTONIC is shared by every process on the machine).
Speech in reads the new blocks each time it captures audio and places them on its far-end
timeline (hardware/echo.py's FarEnd), so the microphone frame captured at t meets the samples
played at t.

The ring is a file in /dev/shm (memory, never the disk; the one place audio may sit outside a
process), mapped by both workers. It holds the last `SLOTS` blocks (5 s) of the robot's own
voice and none of the resident's. Layout, little-endian: a header of the blocks written so far
(u64), the block count and time of the last cut (u64, f64: playback stopped at that time, so
blocks written before it play no further than it), then `SLOTS` slots of (play time f64, 160
int16 samples). The writer fills a slot before it publishes the new count; a reader that was
lapped while reading drops what it read.
"""

from __future__ import annotations

import mmap
import os
import secrets
import stat
import struct
from pathlib import Path

import numpy as np

from hardware.errors import HardwareError

RATE = 16000
BLOCK = 160  # 10 ms at 16 kHz
SLOTS = 512  # 5.12 s
_HEAD = struct.Struct("<QQd")  # blocks written, blocks written at the last cut, the cut's time
_SLOT = 8 + BLOCK * 2
SIZE = _HEAD.size + SLOTS * _SLOT


class FarRingError(HardwareError):
    """The file at the ring's path is not a ring this user made (planted, a link, shared, the wrong size)."""


def ring_path(control_pid: int) -> Path:
    """A fresh place for the control process `control_pid`'s workers to meet (it removes the file when it
    stops). /dev/shm is writable by every user: a name another user could guess lets them plant a file,
    a directory or a link there first; the random part takes that away."""
    where = Path("/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp")
    return where / f"carebot-far-{control_pid}-{secrets.token_hex(8)}"


class FarRing:
    """One side of the ring: speech out writes, speech in reads (either may open it first).

    Raises FarRingError if what is at `path` is not a regular file of this user's that no one else
    may read or write, or is a ring of another size: the robot's voice is not handed to, nor taken
    from, a file someone else controls, and a mapped file is never truncated under the other side.
    """

    def __init__(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        except OSError as exc:  # a link (ELOOP), a directory, a file of someone else's
            raise FarRingError(f"cannot open the far-end ring {path}: {exc}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
                raise FarRingError(f"the far-end ring {path} is not a private file of this user's "
                                   f"(mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid}): refused")
            if st.st_size == 0:
                os.ftruncate(fd, SIZE)  # zeros: an empty ring (the other side may do the same: same size)
            elif st.st_size != SIZE:
                raise FarRingError(f"the far-end ring {path} is {st.st_size} bytes, not {SIZE}: refused")
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        self._seen = _HEAD.unpack_from(self._map, 0)[0]  # a reader starts at the present
        self._cut_seen = _HEAD.unpack_from(self._map, 0)[1:]

    def write(self, t_play: float, block: bytes) -> None:
        """One block of 160 samples (16-bit PCM) that the sound card plays from monotonic time `t_play`."""
        if len(block) != BLOCK * 2:
            raise ValueError(f"far-end blocks are {BLOCK * 2} bytes, got {len(block)}")
        written, cut_n, cut_t = _HEAD.unpack_from(self._map, 0)
        at = _HEAD.size + (written % SLOTS) * _SLOT
        struct.pack_into("<d", self._map, at, t_play)
        self._map[at + 8:at + _SLOT] = block
        _HEAD.pack_into(self._map, 0, written + 1, cut_n, cut_t)  # published only once the slot is whole

    def cut(self, t: float) -> None:
        """Playback stopped at `t`: nothing written so far plays after it."""
        written = _HEAD.unpack_from(self._map, 0)[0]
        _HEAD.pack_into(self._map, 0, written, written, t)

    def read(self) -> tuple[list[tuple[float, bytes]], float | None]:
        """The blocks written since the last read, oldest first, and the time of a new cut (or None).

        Blocks written before a cut are left out from the cut's time on: the card dropped them.
        """
        written, cut_n, cut_t = _HEAD.unpack_from(self._map, 0)
        start = max(self._seen, written - SLOTS + 1)  # a reader that fell behind loses the oldest
        blocks = []
        for n in range(start, written):
            at = _HEAD.size + (n % SLOTS) * _SLOT
            t = struct.unpack_from("<d", self._map, at)[0]
            if n >= cut_n or t < cut_t:
                blocks.append((n, t, bytes(self._map[at + 8:at + _SLOT])))
        lapped = _HEAD.unpack_from(self._map, 0)[0] - SLOTS + 1
        self._seen = written
        cut = None
        if (cut_n, cut_t) != self._cut_seen:
            self._cut_seen = (cut_n, cut_t)
            cut = cut_t
        return [(t, b) for n, t, b in blocks if n >= lapped], cut  # slots overwritten while read are dropped

    def close(self) -> None:
        """Unmap (the file stays for the other side)."""
        self._map.close()


def pcm16k_blocks(pcm: bytes) -> list[bytes]:
    """16 kHz 16-bit PCM as whole 10 ms blocks, the last one padded with silence."""
    samples = np.frombuffer(pcm, np.int16)
    pad = (-len(samples)) % BLOCK
    padded = np.concatenate([samples, np.zeros(pad, np.int16)]) if pad else samples
    return [padded[i:i + BLOCK].tobytes() for i in range(0, len(padded), BLOCK)]
