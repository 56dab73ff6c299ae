"""LogManager: every partition log in the data directory, and Kafka's checkpoint files.

Files in the data directory (Kafka's formats):
* ``recovery-point-offset-checkpoint`` and ``log-start-offset-checkpoint``:
  a version line ``0``, a count line, then ``<topic> <partition> <offset>`` lines;
  written atomically (temp file + rename).  Both at shutdown; the log start
  offsets also whenever DeleteRecords moves one (``log_start_checkpoint_plan``,
  before the request is answered: a ``kill -9`` never brings deleted records
  back).  Retention needs no checkpoint: the segments it removes are gone from
  disk, and a log starts at its first segment or later.
* ``cleaner-offset-checkpoint`` (same format): the first dirty offset of each
  compacted log (see cleaner.py), written only at a clean shutdown and removed
  (fsynced) as soon as ``load`` has read it, so it never outlives the run it
  describes: a crash later, or a topic deleted and created again, leaves the
  logs fully dirty (a lower first dirty offset is always safe, a higher one
  is not).
* ``.kafka_cleanshutdown``: present after a clean shutdown; ``load`` removes it
  and skips the recovery scan when it was there.  Without it (a crash or
  ``kill -9``) ``load`` re-validates the logs' tails and logs one line for the
  operator: ``unclean shutdown: recovered N partitions, truncated M bytes in K s``.

Only the first of ``log.dirs`` is used for now (JBOD comes later).  Owned by
the event-loop thread; directory removal is handed back to the caller for a
worker thread (``load`` returns leftover ``*-delete`` directories, ``delete``
the renamed one).  ``exclude`` names directories that are not partition logs
of this manager (the metadata log).  Every file call goes through the
FileSystem given at construction (the real one by default), which each Log
inherits.  Per-topic configs come from the caller
(the controller layer): ``create(topic, partition, config)`` and
``update_config(topic, config)``; ``load`` opens existing logs with the
default config until the caller supplies theirs.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from strom.storage.files import OS_FS, FileSystem, write_atomically
from strom.storage.log import Log, parse_partition_dir
from strom.storage.log_config import LogConfig
from strom.util.clock import Clock

log = logging.getLogger(__name__)

RECOVERY_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
CLEAN_SHUTDOWN = ".kafka_cleanshutdown"


def read_checkpoint(path: Path, fs: FileSystem = OS_FS) -> dict[tuple[str, int], int]:
    """Parse a Kafka offset checkpoint file; a missing or malformed file reads as empty (the
    logs then recover from offset 0 / start at their first segment)."""
    out: dict[tuple[str, int], int] = {}
    try:
        lines = fs.read_bytes(path).decode().splitlines()
    except FileNotFoundError:
        return out
    try:
        if lines[0].strip() != "0":
            raise ValueError(f"unsupported checkpoint version {lines[0]!r}")
        count = int(lines[1])
        entries = lines[2:2 + count]
        if len(entries) != count:
            raise ValueError("fewer entries than the count line says")
        for line in entries:
            topic, part, offset = line.split()
            out[(topic, int(part))] = int(offset)
    except (IndexError, ValueError):  # UnicodeDecodeError is a ValueError
        log.warning("ignoring malformed checkpoint file %s", path)
        return {}
    return out


def write_checkpoint(path: Path, values: dict[tuple[str, int], int], fs: FileSystem = OS_FS, *,
                     sync_dir: bool = False, tmp_suffix: str = ".tmp") -> None:
    """Write a Kafka offset checkpoint file atomically (temp file, fsync, rename; with
    ``sync_dir`` the directory is fsynced too, so the rename survives a power loss)."""
    lines = ["0", str(len(values))] + [f"{t} {p} {o}" for (t, p), o in sorted(values.items())]
    write_atomically(path, ("\n".join(lines) + "\n").encode(), fsync=True, sync_dir=sync_dir, fs=fs,
                     tmp_suffix=tmp_suffix)


class LogManager:
    def __init__(self, data_dirs: list[Path], default_config: LogConfig, *, clock: Clock,
                 exclude: Iterable[str] = (), fs: FileSystem = OS_FS) -> None:
        self.dir = Path(data_dirs[0])
        self.fs = fs
        self.default_config = default_config
        self.clock = clock
        self.exclude = set(exclude)
        self._logs: dict[tuple[str, int], Log] = {}
        self.was_clean = False

    def load(self) -> list[Path]:
        """Open every partition log (recovering after a crash); returns leftover ``-delete``
        directories for the caller to remove on a worker thread."""
        fs = self.fs
        fs.makedirs(self.dir)
        marker = self.dir / CLEAN_SHUTDOWN
        self.was_clean = fs.exists(marker)
        recovery = read_checkpoint(self.dir / RECOVERY_CHECKPOINT, fs)
        starts = read_checkpoint(self.dir / LOG_START_CHECKPOINT, fs)
        cleaned = read_checkpoint(self.dir / CLEANER_CHECKPOINT, fs)
        if cleaned or fs.exists(self.dir / CLEANER_CHECKPOINT):
            fs.unlink(self.dir / CLEANER_CHECKPOINT, missing_ok=True)
            fs.fsync_path(self.dir)
        leftovers = []
        started = time.monotonic()
        for d in (self.dir / name for name in sorted(fs.listdir(self.dir))):
            if d.name in self.exclude or not fs.is_dir(d):
                continue
            if d.name.endswith("-delete"):
                leftovers.append(d)
                continue
            key = parse_partition_dir(d.name)
            if key is None:
                continue
            the_log = self._logs[key] = Log(d, self.default_config, clock=self.clock, clean=self.was_clean,
                                            recovery_point=recovery.get(key, 0), log_start_offset=starts.get(key),
                                            fs=fs)
            if self.was_clean and key in cleaned:
                the_log.first_dirty_offset = min(cleaned[key], the_log.log_end_offset)
        fs.unlink(marker, missing_ok=True)
        if not self.was_clean and self._logs:
            recovered = sum(1 for the_log in self._logs.values() if the_log.recovered_segments)
            truncated = sum(the_log.truncated_bytes for the_log in self._logs.values())
            took = time.monotonic() - started
            log.warning("unclean shutdown: recovered %d partitions, truncated %d bytes in %.2f s",
                        recovered, truncated, took,
                        extra={"event": "recovery", "partitions": recovered, "truncated_bytes": truncated,
                               "duration_ms": round(took * 1000)})
        return leftovers

    def get(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def create(self, topic: str, partition: int, config: LogConfig) -> Log:
        existing = self._logs.get((topic, partition))
        if existing is not None:
            existing.update_config(config)
            return existing
        the_log = Log(self.dir / f"{topic}-{partition}", config, clock=self.clock, fs=self.fs)
        self._logs[(topic, partition)] = the_log
        return the_log

    def delete(self, topic: str, partition: int) -> Path | None:
        the_log = self._logs.pop((topic, partition), None)
        return the_log.delete() if the_log is not None else None

    def logs(self) -> list[Log]:
        return list(self._logs.values())

    def update_config(self, topic: str, config: LogConfig) -> None:
        for (name, _), the_log in self._logs.items():
            if name == topic:
                the_log.update_config(config)

    def log_start_checkpoint_plan(self) -> Callable[[], None]:
        """Loop thread: capture every log's start offset now; the returned closure writes them to
        ``log-start-offset-checkpoint`` (temp file, fsync, rename, directory fsync) on a worker
        thread.  DeleteRecords runs it before it answers, so a crash never brings deleted records
        back.  Callers run one plan at a time (they share a temporary file, ``<name>.async.tmp``,
        distinct from the one of ``write_checkpoints`` at shutdown, which a worker still running
        then must not interleave with)."""
        values = {k: l.log_start_offset for k, l in self._logs.items()}
        path, fs = self.dir / LOG_START_CHECKPOINT, self.fs

        def write() -> None:
            write_checkpoint(path, values, fs, sync_dir=True, tmp_suffix=".async.tmp")
        return write

    def write_checkpoints(self) -> None:
        write_checkpoint(self.dir / RECOVERY_CHECKPOINT, {k: l.recovery_point for k, l in self._logs.items()}, self.fs)
        write_checkpoint(self.dir / LOG_START_CHECKPOINT, {k: l.log_start_offset for k, l in self._logs.items()},
                         self.fs)

    def shutdown(self) -> bool:
        """Flush and close every log, write checkpoints, then the clean-shutdown marker.

        A log that cannot be flushed (disk full, I/O error) is logged and the others are still
        closed; the marker is then not written, so the next start re-validates the logs' tails.
        Returns whether the shutdown was clean."""
        clean = True
        for the_log in self._logs.values():
            try:
                the_log.close(flush=True)
            except OSError as exc:
                clean = False
                log.error("could not flush %s-%d at shutdown: %s", the_log.topic, the_log.partition, exc)
        try:
            self.write_checkpoints()
            if clean:
                cleaned = {k: l.first_dirty_offset for k, l in self._logs.items() if l.first_dirty_offset}
                write_checkpoint(self.dir / CLEANER_CHECKPOINT, cleaned, self.fs)
                marker = self.dir / CLEAN_SHUTDOWN
                self.fs.create_empty(marker)
                self.fs.fsync_path(marker)
                self.fs.fsync_path(self.dir)
        except OSError as exc:
            clean = False
            try:
                self.fs.unlink(self.dir / CLEAN_SHUTDOWN, missing_ok=True)
            except OSError:  # pragma: no cover - then the marker stays: nothing better to do
                pass
            log.error("could not write the checkpoints or the clean-shutdown marker: %s", exc)
        if not clean:
            log.warning("unclean shutdown: the next start re-validates the tails of the logs")
        return clean
