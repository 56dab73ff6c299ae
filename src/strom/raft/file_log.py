"""The durable ``RaftLog``: ``__cluster_metadata-0`` on Strom's storage, the quorum-state file and
snapshot files beside it.

Layout of the partition directory (Kafka's, where Kafka has one):

* Segments of record batches (``strom.storage.log.Log``). Each batch carries the leader epoch of
  its records in ``partitionLeaderEpoch``; batches written by the single-voter stand-in before the
  raft wiring carry -1 and read as epoch 0. A data record's raft value is its ``(key, value)``
  pair of bytes, unchanged: the metadata record encoding stays what it was.
* Control records in control batches of their own, one record each: key ``int16 version=0,
  int16 type`` (Kafka's ControlRecordType: 2 LEADER_CHANGE, 6 KRAFT_VOTERS), value compact JSON
  (``{"leaderId":1,"voters":[1],"grantingVoters":[1]}``, ``{"voters":[1,2,3]}``) -- Strom's own
  value encoding, not Kafka's binary LeaderChangeMessage/VotersRecord.
* ``quorum-state``: Kafka's JSON (``QuorumStateData.to_json``), replaced atomically and fsynced.
* Snapshots ``<end_offset:020d>-<epoch:010d>.checkpoint``: 4 bytes CRC-32C (big-endian) of the
  rest, then the snapshot bytes the raft core produced (its ``voters=`` header line, then the
  state machine's bytes). Written whole to a ``.tmp`` file, fsynced, renamed. Kafka's snapshot
  is a record-batch file; this one is not (yet). A snapshot with a bad CRC is ignored.

Records of one batch may be split by truncation: ``truncate_to`` cuts the whole batch holding the
offset (``Log.truncate_to``) and writes back the records before it.

Ownership: one RaftNode (through its host) owns the log, on the event loop; not thread-safe.
``flush_plan``/``flush_done`` split an fsync into a worker-thread part and a loop part.
"""
from __future__ import annotations

import json
import struct
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

from strom.raft.core import QuorumStateData
from strom.raft.log import epoch_end_offset
from strom.raft.messages import EpochEndOffset, LeaderChangeRecord, Record, SnapshotId, VotersRecord
from strom.records.batch import NewRecord, build_batch, crc32c_of, decode_batch, iter_batches, validate_batches
from strom.storage.files import OS_FS, FileSystem, write_atomically
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import Clock

QUORUM_STATE_FILE = "quorum-state"
SNAPSHOT_SUFFIX = ".checkpoint"
CONTROL_LEADER_CHANGE = 2
CONTROL_KRAFT_VOTERS = 6
_CONTROL_KEY = struct.Struct(">hh")
_CRC = struct.Struct(">I")
_READ_BYTES = 1 << 20

RaftValue = tuple[bytes | None, bytes | None]
"""The value of a data record in a ``FileRaftLog``: a record's key and value."""


def snapshot_file_name(snapshot_id: SnapshotId) -> str:
    return f"{snapshot_id.end_offset:020d}-{snapshot_id.epoch:010d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_file_name(name: str) -> SnapshotId | None:
    if not name.endswith(SNAPSHOT_SUFFIX):
        return None
    stem = name[:-len(SNAPSHOT_SUFFIX)]
    end, sep, epoch = stem.partition("-")
    if not (sep and end.isdigit() and epoch.isdigit()):
        return None
    return SnapshotId(int(end), int(epoch))


def encode_control(value: object) -> tuple[bytes, bytes]:
    """Key and value of a raft control record (see the module docstring)."""
    if isinstance(value, LeaderChangeRecord):
        body = {"leaderId": value.leader_id, "voters": list(value.voters),
                "grantingVoters": list(value.granting_voters)}
        kind = CONTROL_LEADER_CHANGE
    elif isinstance(value, VotersRecord):
        body, kind = {"voters": list(value.voters)}, CONTROL_KRAFT_VOTERS
    else:
        raise TypeError(f"not a raft control record: {value!r}")
    return _CONTROL_KEY.pack(0, kind), json.dumps(body, separators=(",", ":")).encode()


def decode_control(key: bytes | None, value: bytes | None) -> object:
    """The control record's value; another control type comes back as its (key, value)."""
    if key is None or len(key) < _CONTROL_KEY.size:
        return (key, value)
    kind = _CONTROL_KEY.unpack_from(key)[1]
    try:
        body = json.loads(value or b"")
        if kind == CONTROL_LEADER_CHANGE:
            return LeaderChangeRecord(int(body["leaderId"]), tuple(body["voters"]),
                                      tuple(body.get("grantingVoters", ())))
        if kind == CONTROL_KRAFT_VOTERS:
            return VotersRecord(tuple(body["voters"]))
    except (ValueError, TypeError, KeyError):
        pass
    return (key, value)


def encode_batches(records: tuple[Record, ...], timestamp_ms: int) -> bytes:
    """Record batches holding ``records`` (contiguous offsets): a batch per run of data records of
    one epoch, a control batch per control record; each batch's base offset and
    ``partitionLeaderEpoch`` set. TypeError for a data value that is not a (key, value) pair."""
    out: list[bytes] = []
    group: list[NewRecord] = []
    base = records[0].offset if records else 0
    epoch = records[0].epoch if records else 0

    def close_group() -> None:
        if group:
            out.append(build_batch(group, base_offset=base, timestamp_ms=timestamp_ms,
                                   partition_leader_epoch=epoch))
            group.clear()

    for record in records:
        if record.control:
            close_group()
            out.append(build_batch([NewRecord(*encode_control(record.value))], base_offset=record.offset,
                                   timestamp_ms=timestamp_ms, control=True, partition_leader_epoch=record.epoch))
            continue
        if group and record.epoch != epoch:
            close_group()
        if not group:
            base, epoch = record.offset, record.epoch
        value = record.value
        if not (isinstance(value, tuple) and len(value) == 2):
            raise TypeError(f"a raft data record on disk is a (key, value) pair of bytes, got {value!r}")
        group.append(NewRecord(value[0], value[1]))
    close_group()
    return b"".join(out)


def decode_batches(data: bytes | bytearray | memoryview, offset: int = 0,
                   max_records: int = 1 << 31) -> list[Record]:
    """The raft records in whole batches of ``data`` at ``offset`` and above (at most
    ``max_records``); a batch's epoch -1 (written before raft) reads as 0."""
    out: list[Record] = []
    for h, batch in iter_batches(data):
        epoch = max(h.partition_leader_epoch, 0)
        if h.last_offset < offset:
            continue
        for r in decode_batch(batch)[1]:
            if r.offset < offset:
                continue
            value = decode_control(r.key, r.value) if h.is_control else (r.key, r.value)
            out.append(Record(r.offset, epoch, value, control=h.is_control))
            if len(out) >= max_records:
                return out
    return out


class QuorumStateFile:
    """Kafka's ``quorum-state`` file: ``read`` at start-up, ``write`` (blocking: fsync) on a worker."""

    def __init__(self, directory: Path, *, fs: FileSystem = OS_FS) -> None:
        self.path = Path(directory) / QUORUM_STATE_FILE
        self.fs = fs

    def read(self) -> QuorumStateData | None:
        """The stored state; None when there is none. ValueError when the file is malformed."""
        if not self.fs.exists(self.path):
            return None
        return QuorumStateData.from_json(self.fs.read_bytes(self.path))

    def write(self, state: QuorumStateData, voters: frozenset[int]) -> None:
        write_atomically(self.path, state.to_json(voters).encode(), fsync=True, sync_dir=True, fs=self.fs)


class FileRaftLog:
    """A ``RaftLog`` on a ``Log`` directory (see the module docstring for the files)."""

    def __init__(self, directory: Path, clock: Clock, *, clean: bool, fs: FileSystem = OS_FS,
                 segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.dir = Path(directory)
        self.fs = fs
        self.clock = clock
        fs.makedirs(self.dir)
        snapshot = self._load_snapshot()
        config = LogConfig(segment_bytes=segment_bytes, retention_ms=-1, retention_bytes=-1)
        start = snapshot.end_offset if snapshot is not None else None
        self.log = Log(self.dir, config, clock=clock, clean=clean, log_start_offset=start, fs=fs)
        if snapshot is not None and not (self.log.segments[0].base_offset <= snapshot.end_offset
                                         <= self.log.log_end_offset):
            self.log.truncate_fully_and_start_at(snapshot.end_offset)  # an interrupted install
        self._snapshot = snapshot
        self._start_epoch = snapshot.epoch if snapshot is not None else 0
        self._epoch_starts: list[int] = []
        self._epoch_offsets: list[int] = []
        start_offset = self.log.log_start_offset
        for seg in self.log.segments:
            for _pos, h in seg.iter_headers():
                if h.last_offset < start_offset:
                    continue
                self._note_epoch(max(h.partition_leader_epoch, 0), max(h.base_offset, start_offset))
        self._flushed = self.log.log_end_offset  # what the disk holds after recovery
        self._truncated_below: int | None = None  # lowest truncation since the last flush_plan

    def _load_snapshot(self) -> SnapshotId | None:
        """The newest snapshot with a good CRC; older ones are deleted."""
        found = sorted((sid, name) for name in self.fs.listdir(self.dir)
                       if (sid := parse_snapshot_file_name(name)) is not None)
        latest = None
        for sid, name in reversed(found):
            if latest is None and self._read_snapshot_file(name) is not None:
                latest = sid
            elif latest is not None:
                self.fs.unlink(self.dir / name, missing_ok=True)
        return latest

    def _read_snapshot_file(self, name: str) -> bytes | None:
        try:
            raw = self.fs.read_bytes(self.dir / name)
        except OSError:
            return None
        if len(raw) < _CRC.size or _CRC.unpack_from(raw)[0] != crc32c_of(raw[_CRC.size:]):
            return None
        return raw[_CRC.size:]

    def _note_epoch(self, epoch: int, offset: int) -> None:
        if not self._epoch_starts or epoch > self._epoch_starts[-1]:
            self._epoch_starts.append(epoch)
            self._epoch_offsets.append(offset)

    # ------------------------------------------------------------------------------ reading
    @property
    def start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def flushed_end_offset(self) -> int:
        return self._flushed

    @property
    def last_epoch(self) -> int:
        return self._epoch_starts[-1] if self._epoch_starts else self._start_epoch

    def epoch_at(self, offset: int) -> int:
        i = bisect_right(self._epoch_offsets, offset) - 1
        if offset < self.start_offset or i < 0:
            return self._start_epoch
        return self._epoch_starts[i]

    def end_offset_for_epoch(self, epoch: int) -> EpochEndOffset:
        return epoch_end_offset(epoch, self._epoch_starts, self._epoch_offsets, self._start_epoch,
                                self._snapshot is not None or self.start_offset == 0, self.end_offset)

    def read(self, offset: int, max_records: int) -> tuple[Record, ...]:
        out: list[Record] = []
        end = self.end_offset
        offset = max(offset, self.start_offset)
        while offset < end and len(out) < max_records:
            data = self.log.read(offset, _READ_BYTES, max_offset=end)
            if not data:
                break
            got = decode_batches(data, offset, max_records - len(out))
            if not got:
                break
            out += got
            offset = got[-1].offset + 1
        return tuple(out)

    # ------------------------------------------------------------------------------ writing
    def append(self, records: tuple[Record, ...]) -> None:
        if not records:
            return
        end = self.end_offset
        if records[0].offset != end:
            raise ValueError(f"append at {records[0].offset}, log end is {end}")
        last = self.last_epoch if self._epoch_starts else -1
        for i, record in enumerate(records):
            if record.offset != end + i:
                raise ValueError(f"record offsets not contiguous at {record.offset}")
            if record.epoch < last:
                raise ValueError(f"epoch {record.epoch} after {last}")
            last = record.epoch
        data = encode_batches(records, self.clock.now_ms())
        headers = validate_batches(data, allow_control=True)
        self.log.append(data, headers)  # keeps each batch's partitionLeaderEpoch
        for h in headers:
            self._note_epoch(h.partition_leader_epoch, h.base_offset)

    def truncate_to(self, offset: int) -> None:
        if offset >= self.end_offset:
            return
        if offset < self.start_offset:
            raise ValueError(f"truncate to {offset} below log start {self.start_offset}")
        first = self.log.read(offset, 1, max_offset=self.end_offset)
        base = next(iter_batches(first))[0].base_offset if first else offset
        keep = self.read(base, offset - base) if base < offset else ()
        self.log.truncate_to(offset)
        cut = self.end_offset
        while self._epoch_offsets and self._epoch_offsets[-1] >= cut:
            self._epoch_offsets.pop()
            self._epoch_starts.pop()
        self._flushed = min(self._flushed, cut)
        low = self._truncated_below
        self._truncated_below = cut if low is None else min(low, cut)
        self.append(tuple(r for r in keep if r.offset >= cut))

    def flush(self) -> None:
        """Fsync on the calling thread."""
        plan = self.flush_plan()
        if plan is not None:
            self.flush_done(plan())

    def flush_plan(self) -> Callable[[], int] | None:
        """Loop thread: what to fsync, as a closure for a worker thread (``Log.flush_plan``); pass
        its result to ``flush_done`` on the loop. None: everything is durable already."""
        self._truncated_below = None
        plan = self.log.flush_plan()
        if plan is None:
            self._flushed = self.end_offset
        return plan

    def flush_done(self, offset: int) -> None:
        """Loop thread: the fsync planned by ``flush_plan`` covered ``[0, offset)``; a truncation
        in the meantime caps it (the rewritten tail may not be on disk)."""
        self.log.flush_done(offset)
        durable = min(offset, self.end_offset)
        if self._truncated_below is not None:
            durable = min(durable, self._truncated_below)
        self._flushed = max(self._flushed, durable)

    # ---------------------------------------------------------------------------- snapshots
    def bytes_since_snapshot(self, offset: int) -> int:
        """Approximate: the bytes of the segments holding offsets from the log start to ``offset``."""
        if offset <= self.start_offset:
            return 0
        return sum(seg.size for seg in self.log.segments if seg.base_offset < offset)

    def latest_snapshot(self) -> SnapshotId | None:
        return self._snapshot

    def snapshot_bytes(self, snapshot_id: SnapshotId) -> bytes | None:
        if snapshot_id != self._snapshot:
            return None
        return self._read_snapshot_file(snapshot_file_name(snapshot_id))

    def _write_snapshot(self, snapshot_id: SnapshotId, data: bytes) -> None:
        path = self.dir / snapshot_file_name(snapshot_id)
        write_atomically(path, _CRC.pack(crc32c_of(data)) + data, fsync=True, sync_dir=True, fs=self.fs)

    def _drop_other_snapshots(self, keep: SnapshotId) -> None:
        for name in self.fs.listdir(self.dir):
            sid = parse_snapshot_file_name(name)
            if sid is not None and sid != keep:
                self.fs.unlink(self.dir / name, missing_ok=True)

    def create_snapshot(self, end_offset: int, data: bytes) -> SnapshotId:
        """Write the snapshot file (fsynced; blocking) and move the log start up to it; whole
        segments below the new start are deleted."""
        if not self.start_offset < end_offset <= self._flushed:
            raise ValueError(f"snapshot at {end_offset} outside ({self.start_offset}, {self._flushed}]")
        snapshot_id = SnapshotId(end_offset, self.epoch_at(end_offset - 1))
        self._write_snapshot(snapshot_id, data)
        self.log.increment_log_start_offset(end_offset)
        for seg in self.log.remove_segments(self.log.segments_to_delete(self.clock.now_ms())):
            seg.delete_files()
        self._drop_other_snapshots(snapshot_id)
        self._snapshot = snapshot_id
        self._start_epoch = snapshot_id.epoch
        # keep the epoch of the first remaining record as an epoch start
        while len(self._epoch_offsets) > 1 and self._epoch_offsets[1] <= end_offset:
            self._epoch_offsets.pop(0)
            self._epoch_starts.pop(0)
        if self._epoch_offsets:
            if self.end_offset > end_offset:
                self._epoch_offsets[0] = max(self._epoch_offsets[0], end_offset)
            else:
                self._epoch_offsets.clear()
                self._epoch_starts.clear()
        return snapshot_id

    def install_snapshot(self, snapshot_id: SnapshotId, data: bytes) -> None:
        """Replace the whole log by a snapshot fetched from the leader (durably; blocking)."""
        self._write_snapshot(snapshot_id, data)
        self.log.truncate_fully_and_start_at(snapshot_id.end_offset)
        self.log.flush()
        self._drop_other_snapshots(snapshot_id)
        self._snapshot = snapshot_id
        self._start_epoch = snapshot_id.epoch
        self._epoch_starts.clear()
        self._epoch_offsets.clear()
        self._flushed = snapshot_id.end_offset

    def close(self, *, flush: bool = False) -> None:
        self.log.close(flush=flush)

