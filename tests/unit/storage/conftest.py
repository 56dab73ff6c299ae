import pytest

from strom.storage.faults import FaultyFileSystem
from strom.storage.files import OS_FS
from strom.util.clock import FakeClock

from . import _helpers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["os", "faulty"])
def storage_fs(request):
    """Run a test body twice: on the real file system and on a FaultyFileSystem without faults
    (``open_log`` uses it unless given another), and check that a test which opened a log through
    it made its file calls there.  Opt in with ``pytestmark = pytest.mark.usefixtures("storage_fs")``."""
    fs = OS_FS if request.param == "os" else FaultyFileSystem()
    _helpers.FS, _helpers.OPENED = fs, 0
    try:
        yield fs
    finally:
        opened, _helpers.FS, _helpers.OPENED = _helpers.OPENED, OS_FS, 0
    if isinstance(fs, FaultyFileSystem) and opened:
        assert fs.calls["open"] and fs.calls["listdir"] and fs.calls["fstat"]
