"""TransactionIndex: the aborted transactions of one segment, ``<base>.txnindex`` (Kafka's format).

One 34-byte big-endian entry per aborted transaction whose ABORT marker lies in
the segment::

    int16 version (0) | int64 producer_id | int64 first_offset | int64 last_offset
                      | int64 last_stable_offset

``first_offset`` is the transaction's first record in this partition (it may lie
in an earlier segment), ``last_offset`` the offset of its ABORT marker, and
``last_stable_offset`` the partition's LSO once the marker was written.  Entries
are appended in marker order.  The file exists only once the segment has an
entry (as in Kafka).  A read_committed Fetch answers with the entries whose
``last_offset >= fetch_offset`` and ``first_offset <`` the end of what it read
(``Log.aborted_transactions``), so the consumer can drop aborted records.

Recovery: the entries are derived data.  When the Log replays batch headers to
rebuild the producer state (from the newest snapshot), it first drops the
entries at or beyond the replay start (``truncate_to``) and re-adds one for each
ABORT marker it replays; truncation drops the entries beyond the new end.

A failed write (disk full, I/O error) never fails the append whose marker is
already in the log: the entry stays in memory, the index is marked ``unsaved``,
and the Log writes it whole at close (if that fails too, the Log drops its
producer snapshots, so the next start replays the log and rebuilds the index).

For the log cleaner (compaction, which owns its own rules): a cleaned segment
must keep the ABORT and COMMIT markers until every record of their transaction
is gone and ``delete.retention.ms`` has passed (Kafka's rules), and a cleaned
segment's ``.txnindex`` keeps the entries whose markers it keeps (Kafka copies
them into the cleaned segment).  Owned by its Segment on the event-loop thread;
writes are small appends to the page cache (one per ABORT marker).
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import NamedTuple

from strom.storage.files import OS_FS, FileSystem, write_atomically

TXN_INDEX_SUFFIX = ".txnindex"
ENTRY = struct.Struct(">hqqqq")
VERSION = 0

log = logging.getLogger(__name__)


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class TransactionIndex:
    def __init__(self, path: Path, *, fs: FileSystem = OS_FS) -> None:
        self.path = path
        self.fs = fs
        self.entries: list[AbortedTxn] = []
        self.unsaved = False  # the file lacks entries that are in memory (a write failed)

    def load(self) -> None:
        """Read the file (if any); a partial trailing entry is ignored (it is rewritten at the next
        change), an unknown version stops the read there."""
        try:
            data = self.fs.read_bytes(self.path)
        except FileNotFoundError:
            self.entries = []
            return
        out = []
        for pos in range(0, len(data) - ENTRY.size + 1, ENTRY.size):
            version, *fields = ENTRY.unpack_from(data, pos)
            if version != VERSION:
                break
            out.append(AbortedTxn(*fields))
        self.entries = out

    def append(self, entry: AbortedTxn) -> None:
        """Add an entry and append it to the file (created on the first entry); a failed write
        leaves the index ``unsaved`` instead of raising."""
        self.entries.append(entry)
        if self.unsaved:
            return
        try:
            fd = self.fs.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                self.fs.write_all(fd, ENTRY.pack(VERSION, *entry))
            finally:
                self.fs.close(fd)
        except OSError as exc:
            log.warning("could not write %s (%s); it is kept in memory and written at close", self.path, exc)
            self.unsaved = True

    def save(self) -> None:
        """Write every entry (temp file + rename); raises OSError."""
        if self.entries:
            write_atomically(self.path, b"".join(ENTRY.pack(VERSION, *e) for e in self.entries), fs=self.fs)
        else:
            self.fs.unlink(self.path, missing_ok=True)
        self.unsaved = False

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or beyond ``offset`` (log truncation, replay)."""
        kept = [e for e in self.entries if e.last_offset < offset]
        if len(kept) == len(self.entries):
            return
        self.entries = kept
        try:
            self.save()
        except OSError as exc:
            log.warning("could not rewrite %s (%s); it is kept in memory and written at close", self.path, exc)
            self.unsaved = True

    def collect(self, fetch_offset: int, upper_offset: int) -> list[AbortedTxn]:
        """Entries of transactions that overlap [fetch_offset, upper_offset)."""
        return [e for e in self.entries if e.last_offset >= fetch_offset and e.first_offset < upper_offset]
