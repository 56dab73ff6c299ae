"""The handler registry: one module per Kafka API, found in ``strom.server.handlers``.

A handler module declares ``API_KEY``, ``VERSIONS = (min, max)`` (the versions it
decodes and serves), optionally ``ADVERTISED_MIN`` (a lower minimum to advertise,
as Kafka does for Produce), and ``async def handle(ctx, request) -> dict | bytes | None``
returning the response as a plain dict (built into the version's schema by the
codec), a complete response frame (hand-written encoders of strom.protocol.fast),
or None for no response (Produce with acks=0).  ApiVersions is computed
from this registry, so an API exists exactly when its module does.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from strom.protocol.codec import supported_range
from strom.server import handlers as _handlers_pkg


def _discover() -> dict[int, ModuleType]:
    found: dict[int, ModuleType] = {}
    for info in pkgutil.iter_modules(_handlers_pkg.__path__):
        module = importlib.import_module(f"{_handlers_pkg.__name__}.{info.name}")
        key = getattr(module, "API_KEY", None)
        if key is None:
            continue
        if key in found:
            raise RuntimeError(f"two handlers for API key {key}: {found[key].__name__}, {module.__name__}")
        lo, hi = module.VERSIONS
        codec = supported_range(key)
        if codec is None or lo < codec[0] or hi > codec[1]:
            raise RuntimeError(f"{module.__name__} serves v{lo}-{hi} but the codec has {codec}")
        found[key] = module
    return found


HANDLERS: dict[int, ModuleType] = _discover()


def advertised_versions() -> list[tuple[int, int, int]]:
    """(api_key, min_version, max_version) for every API we serve, sorted by key."""
    out = []
    for key, module in sorted(HANDLERS.items()):
        lo, hi = module.VERSIONS
        out.append((key, getattr(module, "ADVERTISED_MIN", lo), hi))
    return out


def api_name(api_key: int) -> str:
    """Kafka's ApiKeys name of a served API, from its module name (list_offsets -> ListOffsets)."""
    return "".join(part.capitalize() for part in HANDLERS[api_key].__name__.rsplit(".", 1)[1].split("_"))


def compatibility_rows() -> list[str]:
    """Markdown rows ``| key | ApiName | min–max |`` for docs/compatibility.md (checked by a test)."""
    rows = []
    for key, lo, hi in advertised_versions():
        name = api_name(key)
        served = HANDLERS[key].VERSIONS
        note = f" (v{lo}–{served[0] - 1} advertised but rejected, as Kafka 4 does)" if lo < served[0] else ""
        rows.append(f"| {key} | {name} | {lo}–{hi}{note} |")
    return rows


def update_compatibility_doc(path: str) -> None:
    """Rewrite the table rows of docs/compatibility.md in place (``python -m strom.server.registry --update``)."""
    import re
    lines = open(path).read().splitlines()
    rows = [i for i, line in enumerate(lines) if re.match(r"^\| \d+ \|", line)]
    if rows:
        lines[rows[0]:rows[-1] + 1] = compatibility_rows()
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":  # print the table rows, or --update docs/compatibility.md
    import sys
    if sys.argv[1:2] == ["--update"]:
        update_compatibility_doc(sys.argv[2] if len(sys.argv) > 2 else "docs/compatibility.md")
    else:
        print("\n".join(compatibility_rows()))
