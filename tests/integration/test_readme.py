"""The README's python snippets (marked ``# test: readme``) run unmodified against a broker."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
            if block.startswith("# test: readme")]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(broker, snippet, tmp_path):
    code = snippet.replace("localhost:9092", broker.bootstrap)
    script = tmp_path / "snippet.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "hello" in out.stdout or "event 0" in out.stdout
