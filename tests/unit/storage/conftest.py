import pytest

from strom.util.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
