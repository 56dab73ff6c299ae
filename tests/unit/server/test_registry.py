from pathlib import Path

from strom.server.registry import HANDLERS, advertised_versions, compatibility_rows

DOC = Path(__file__).resolve().parents[3] / "docs" / "compatibility.md"


def test_every_handler_declares_its_contract():
    for key, module in HANDLERS.items():
        lo, hi = module.VERSIONS
        assert 0 <= lo <= hi, module.__name__
        assert module.__doc__ and module.__doc__.strip(), f"{module.__name__} needs its header docstring"
        assert callable(module.handle)


def test_api_versions_is_computed_from_the_registry():
    keys = [k for k, _, _ in advertised_versions()]
    assert keys == sorted(HANDLERS)
    produce = next(v for v in advertised_versions() if v[0] == 0)
    assert produce[1] == 0  # Produce advertises v0 (librdkafka compression), serves v3+


def test_compatibility_doc_lists_every_api_with_its_versions():
    text = DOC.read_text()
    for row in compatibility_rows():
        assert row in text, f"docs/compatibility.md is missing or stale: {row}"
