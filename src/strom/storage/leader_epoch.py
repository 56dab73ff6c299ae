"""LeaderEpochFileCache: where each leader epoch starts in one partition's log (Kafka's names).

Entries ``(epoch, start_offset)``, both strictly increasing: the first offset
written in each leader epoch.  An entry is assigned when the first batch of a
newer epoch is appended (as leader, with the epoch stamped into the batch's
``partitionLeaderEpoch``, or as a follower, with the leader's stamp) and when
recovery re-reads batch headers.  Followers will use ``end_offset_for``
(OffsetForLeaderEpoch) to find where their log diverges from the leader's.

File ``leader-epoch-checkpoint`` in the partition directory, Kafka's format::

    0                 version
    2                 number of entries
    0 0               epoch start_offset, one line each, oldest first
    3 1200

written whole and atomically (``<file>.tmp``, fsync, rename, directory fsync)
through the Log's FileSystem.

Durability rule (what recovery relies on): every entry whose start offset is
below the log's recovery point is in the file.  ``Log.flush_plan`` writes the
file (when changed) before it reports a new recovery point, and ``Log.close``
writes it at a clean shutdown; the replica manager also writes it on a worker
soon after an epoch change (``checkpoint_plan``).  After a crash the Log drops
the entries at or after the first re-validated segment and re-derives them
from the batch headers it re-reads, then drops entries beyond the log end
(``truncate_from_end``) and below the log start (``truncate_from_start``).  A
missing or malformed file is rebuilt from every batch header of the log.
(Retention also raises the in-memory recovery point, to the log start; that
is safe because the recovery-point checkpoint is only written at a clean
shutdown, together with this file.  Whoever checkpoints recovery points
periodically must write this file first.)

Threading: the entries are read and changed on the event-loop thread only.
A plan from ``checkpoint_plan`` captures them there and runs on a worker;
writes are serialised by a lock and a write older than the newest one done is
skipped, so plans may run in any order.
"""
from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from strom.storage.files import OS_FS, FileSystem, write_atomically

log = logging.getLogger(__name__)

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
CHECKPOINT_VERSION = 0
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


def format_checkpoint(entries: tuple[EpochEntry, ...] | list[EpochEntry]) -> bytes:
    lines = [str(CHECKPOINT_VERSION), str(len(entries))] + [f"{e.epoch} {e.start_offset}" for e in entries]
    return ("\n".join(lines) + "\n").encode()


def parse_checkpoint(text: str) -> list[EpochEntry]:
    """Entries of a ``leader-epoch-checkpoint`` file; raises ValueError when malformed (bad
    version, a count that does not match, entries not increasing, negative values)."""
    lines = text.splitlines()
    if len(lines) < 2 or lines[0].strip() != str(CHECKPOINT_VERSION):
        raise ValueError("missing or unsupported version line")
    count = int(lines[1])
    body = [line for line in lines[2:] if line.strip()]
    if count < 0 or len(body) != count:
        raise ValueError(f"the count line says {count}, found {len(body)} entries")
    entries: list[EpochEntry] = []
    for line in body:
        epoch, start = (int(x) for x in line.split())
        if epoch < 0 or start < 0 or (entries and (epoch <= entries[-1].epoch or start < entries[-1].start_offset)):
            raise ValueError(f"entry {line!r} is negative or not after the previous one")
        entries.append(EpochEntry(epoch, start))
    return entries


class LeaderEpochFileCache:
    def __init__(self, path: Path, *, fs: FileSystem = OS_FS) -> None:
        self.path = path
        self.fs = fs
        self._entries: list[EpochEntry] = []
        self._epochs: list[int] = []  # the entries' epochs, for bisect
        self._version = 0  # bumped on every change (loop thread)
        self._written = 0  # newest version on disk (worker or loop, under _lock)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ queries
    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, or -1 when there is none."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    def earliest_entry(self) -> EpochEntry | None:
        return self._entries[0] if self._entries else None

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch of the record at ``offset``: the newest entry starting at or before it
        (-1 when ``offset`` is before the first entry or there is none)."""
        i = bisect.bisect_right([e.start_offset for e in self._entries], offset) - 1
        return self._entries[i].epoch if i >= 0 else UNDEFINED_EPOCH

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's OffsetForLeaderEpoch answer for ``epoch``: (the largest known epoch <= ``epoch``,
        the start offset of the first epoch after it).  The latest epoch ends at the log end;
        an epoch below every known one answers (epoch, start of the first entry); an epoch above
        the latest, -1, or an empty cache answers (-1, -1)."""
        if epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if epoch == self._entries[-1].epoch:
            return epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, epoch)
        if higher == len(self._entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return epoch, self._entries[0].start_offset
        return self._entries[higher - 1].epoch, self._entries[higher].start_offset

    # ------------------------------------------------------------------ changes (loop thread)
    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset`` (Kafka's assign): a no-op for the latest
        epoch at a later offset; otherwise entries with an epoch >= ``epoch`` or a start offset
        >= ``start_offset`` are dropped (they conflict) and the entry is added.  Negative values
        are ignored.  Returns whether anything changed."""
        if epoch < 0 or start_offset < 0:
            return False
        if self._entries:
            last = self._entries[-1]
            if last.epoch == epoch and last.start_offset <= start_offset:
                return False
            keep = len(self._entries)
            while keep and (self._entries[keep - 1].epoch >= epoch
                            or self._entries[keep - 1].start_offset >= start_offset):
                keep -= 1
            if keep < len(self._entries):
                dropped = self._entries[keep:]
                # a newer epoch at an entry moved up to the log start is routine; anything else is divergence
                level = logging.WARNING if dropped[-1].epoch >= epoch else logging.DEBUG
                log.log(level, "%s: epoch %d at offset %d replaces the conflicting entries %s",
                        self.path.parent.name, epoch, start_offset, dropped)
                del self._entries[keep:], self._epochs[keep:]
        self._entries.append(EpochEntry(epoch, start_offset))
        self._epochs.append(epoch)
        self._version += 1
        return True

    def truncate_from_end(self, end_offset: int) -> None:
        """Drop the entries starting at or after ``end_offset`` (log truncation; Kafka's truncateFromEnd)."""
        keep = len(self._entries)
        while keep and self._entries[keep - 1].start_offset >= end_offset:
            keep -= 1
        if keep < len(self._entries):
            del self._entries[keep:], self._epochs[keep:]
            self._version += 1

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at ``start_offset`` (retention, DeleteRecords; Kafka's truncateFromStart):
        entries before it go, except the newest of them, which now starts at ``start_offset``."""
        floor = bisect.bisect_right([e.start_offset for e in self._entries], start_offset) - 1
        if floor < 0 or (floor == 0 and self._entries[0].start_offset == start_offset):
            return
        entry = EpochEntry(self._entries[floor].epoch, start_offset)
        del self._entries[:floor], self._epochs[:floor]
        self._entries[0] = entry
        self._version += 1

    def clear(self) -> None:
        if self._entries:
            self._entries.clear()
            self._epochs.clear()
            self._version += 1

    def replace_all(self, entries: list[EpochEntry]) -> None:
        """Set the entries as read from the file (recovery)."""
        self._entries = list(entries)
        self._epochs = [e.epoch for e in entries]
        self._version += 1

    # ------------------------------------------------------------------ file
    def read_file(self) -> list[EpochEntry] | None:
        """The entries in the file; None when it is missing or malformed (logged)."""
        try:
            text = self.fs.read_bytes(self.path).decode()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s); rebuilding it from the log", self.path, exc)
            return None
        try:
            return parse_checkpoint(text)
        except ValueError as exc:
            log.warning("malformed %s (%s); rebuilding it from the log", self.path, exc)
            return None

    def mark_written(self) -> None:
        """The file holds the current entries (just read from it)."""
        self._written = self._version

    @property
    def dirty(self) -> bool:
        """Whether the entries changed since the newest write (loop thread)."""
        return self._written != self._version

    def checkpoint_plan(self) -> Callable[[], None] | None:
        """Loop thread: capture the entries; the returned closure (any thread) writes them
        durably unless a newer version was written meanwhile.  None when nothing changed."""
        if not self.dirty:
            return None
        version, data = self._version, format_checkpoint(self._entries)

        def write() -> None:
            with self._lock:
                if version <= self._written:
                    return
                write_atomically(self.path, data, fsync=True, sync_dir=True, fs=self.fs)
                self._written = version
        return write

    def write_checkpoint(self) -> None:
        """Write the file now if it changed, on the calling thread (close, recovery, tests)."""
        plan = self.checkpoint_plan()
        if plan is not None:
            plan()

    def __repr__(self) -> str:
        return f"LeaderEpochFileCache({self.path}, {self._entries})"

