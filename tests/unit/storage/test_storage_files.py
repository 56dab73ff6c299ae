"""The file-system seam: the real file system's helpers and the fault-injecting one's rules."""
from __future__ import annotations

import errno
import os

import pytest

from strom.storage.faults import FaultyFileSystem
from strom.storage.files import OS_FS, write_atomically


@pytest.mark.parametrize("fs", [OS_FS, FaultyFileSystem()], ids=["os", "faulty"])
def test_helpers_on_both_file_systems(tmp_path, fs):
    d = tmp_path / "a" / "b"
    fs.makedirs(d)
    fs.makedirs(d)
    assert fs.is_dir(d) and not fs.exists(d / "f")
    write_atomically(d / "f", b"x" * 3_000_000, fsync=True, sync_dir=True, fs=fs)
    assert fs.read_bytes(d / "f") == b"x" * 3_000_000
    assert fs.listdir(d) == ["f"]
    fs.unlink(d / "f")
    fs.unlink(d / "f", missing_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.unlink(d / "f")


def test_faults_match_by_operation_and_path_after_and_times(tmp_path):
    fs = FaultyFileSystem()
    fault = fs.fail("open", path="bad", after=1, times=2, error=errno.EIO)
    for name in ("good", "bad1"):  # "good" does not match; the first match passes (after=1)
        fs.close(fs.open(tmp_path / name, os.O_WRONLY | os.O_CREAT, 0o644))
    for _ in range(2):
        with pytest.raises(OSError) as exc:
            fs.open(tmp_path / "bad2", os.O_WRONLY | os.O_CREAT, 0o644)
        assert exc.value.errno == errno.EIO and "injected" in str(exc.value)
    fs.close(fs.open(tmp_path / "bad3", os.O_WRONLY | os.O_CREAT, 0o644))  # times used up
    assert (fault.hits, fault.fired) == (4, 2)
    assert fs.calls["open"] == 5


def test_descriptor_faults_use_the_path_the_descriptor_was_opened_with(tmp_path):
    fs = FaultyFileSystem()
    fs.fail("fsync", path=".log")
    a = fs.open(tmp_path / "x.log", os.O_WRONLY | os.O_CREAT, 0o644)
    b = fs.open(tmp_path / "x.index", os.O_WRONLY | os.O_CREAT, 0o644)
    dup = fs.dup(a)
    fs.fsync(b)
    for fd in (a, dup):
        with pytest.raises(OSError):
            fs.fsync(fd)
    fs.heal()
    fs.fsync(a)
    for fd in (a, b, dup):
        fs.close(fd)


def test_short_writes_write_half_and_say_so(tmp_path):
    fs = FaultyFileSystem()
    fd = fs.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    fs.short_write(times=2)
    assert fs.pwritev(fd, [b"abcd", memoryview(b"efgh")], 0) == 4
    assert fs.pwrite(fd, b"1234", 4) == 2
    assert fs.pwrite(fd, b"5678", 8) == 4
    assert fs.pread(fd, 100, 0) == b"abcd12\x00\x005678"  # bytes 6-7 were never written
    fs.close(fd)
    with pytest.raises(ValueError):
        fs.short_write("fsync")


def test_write_atomically_leaves_the_old_file_and_no_temp_file_on_failure(tmp_path):
    fs = FaultyFileSystem()
    target = tmp_path / "cp"
    write_atomically(target, b"old", fs=fs)
    for op in ("write", "fsync", "replace"):
        fault = fs.fail(op)
        with pytest.raises(OSError):
            write_atomically(target, b"new", fsync=True, fs=fs)
        fs.heal(fault)
        assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["cp"]
