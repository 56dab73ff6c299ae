"""The README's python snippets (marked ``# test: readme`` on their first line) run unmodified
against a real broker, with ``localhost:9092`` pointed at it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCKS = re.findall(r"^```python[ \t]*\n(.*?)^```", README.read_text(), re.S | re.M) if README.exists() else []
SNIPPETS = [b for b in _BLOCKS if "# test: readme" in b.splitlines()[0]] if _BLOCKS else []


@pytest.mark.timeout(150)
@pytest.mark.parametrize("snippet", SNIPPETS or [pytest.param(None, marks=pytest.mark.skip(
    reason="README.md has no ```python block whose first line says '# test: readme'"))],
    ids=[f"snippet{i}" for i in range(len(SNIPPETS))] or ["none"])
def test_readme_snippet_runs(broker, snippet, tmp_path):
    assert "localhost:9092" in snippet, "a README snippet that does not talk to localhost:9092"
    script = tmp_path / "snippet.py"
    script.write_text(snippet.replace("localhost:9092", broker.bootstrap))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, f"snippet failed:\n{snippet}\nstderr:\n{out.stderr[-3000:]}"
    assert out.stdout.strip(), "the snippet printed nothing"
    assert any(word in out.stdout for word in ("hello", "event 0", "order 0")), out.stdout
