"""The README's examples work as a reader runs them after `make serve`.

* Every module the python snippets (``# test: readme`` on their first line) import comes with the
  environment `make serve` builds: the Makefile's ``serve`` target, the pip install it runs and the
  pyproject dependencies and extras it names (not the test extras this suite runs with).
* The snippets, then the Tools block, run in README order against one real broker, with
  ``localhost:9092`` pointed at it (the snippets' text, ``STROM_BOOTSTRAP_SERVERS`` for the tools),
  so that a later example colliding with what an earlier one created fails here as it would for a
  reader.
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STROM = Path(sys.executable).with_name("strom")
_TEXT = README.read_text()
_BLOCKS = re.findall(r"^```python[ \t]*\n(.*?)^```", _TEXT, re.S | re.M)
SNIPPETS = [b for b in _BLOCKS if b.splitlines() and "# test: readme" in b.splitlines()[0]]
_TOOLS = re.search(r"^## Tools\n.*?^```sh[ \t]*\n(.*?)^```", _TEXT, re.S | re.M)
TOOLS = [line for line in (_TOOLS.group(1).splitlines() if _TOOLS else []) if line.strip()]


def _requirement_name(spec: str) -> tuple[str, list[str]]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", spec)
    assert match, spec
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return match.group(1).lower().replace("_", "-"), extras


def make_serve_distributions() -> set[str]:
    """Distribution names `make serve` installs: Strom, its dependencies and the extras that the
    Makefile's install step for `serve` names (resolving `strom[...]` self-references)."""
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"^serve:\s*(.*)$", makefile, re.M)
    assert serve, "the Makefile has no serve target"
    assert "install" in serve.group(1).split(), f"`make serve` does not depend on install: {serve.group(0)}"
    install = re.search(r"^\$\(VENV\)/\.installed:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert install, "the Makefile has no $(VENV)/.installed step"
    pip = re.search(r"pip install .*?-e\s+'?\.(?:\[([^\]]*)\])?'?", install.group(1))
    assert pip, install.group(1)
    extras = [e.strip() for e in (pip.group(1) or "").split(",") if e.strip()]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {"strom"}
    todo = list(project["dependencies"]) + [f"strom[{e}]" for e in extras]
    while todo:
        name, more = _requirement_name(todo.pop())
        if name == "strom":
            for extra in more:
                todo += project["optional-dependencies"][extra]
        else:
            names.add(name)
    return names


def test_the_snippets_import_only_what_make_serve_installs():
    assert SNIPPETS, "README.md has no ```python block whose first line says '# test: readme'"
    installed = make_serve_distributions()
    providers = importlib.metadata.packages_distributions()
    missing = []
    for snippet in SNIPPETS:
        for node in ast.walk(ast.parse(snippet)):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names:
                    continue
                dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
                if not dists & installed:
                    missing.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    assert not missing, f"README snippets import what `make serve` does not install: {missing}"


@pytest.mark.timeout(300)
def test_the_examples_run_in_order(broker, tmp_path):
    assert SNIPPETS and TOOLS, "README.md lacks its python examples or its Tools block"
    for n, snippet in enumerate(SNIPPETS):
        assert "localhost:9092" in snippet, "a README snippet that does not talk to localhost:9092"
        script = tmp_path / f"snippet{n}.py"
        script.write_text(snippet.replace("localhost:9092", broker.bootstrap))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path)
        assert out.returncode == 0, f"snippet {n} failed:\n{snippet}\nstderr:\n{out.stderr[-3000:]}"
        assert any(word in out.stdout for word in ("hello", "event 0", "order 0")), out.stdout
    env = {**os.environ, "STROM_BOOTSTRAP_SERVERS": broker.bootstrap}
    outputs = []
    for line in TOOLS:
        assert ".venv/bin/strom" in line, line
        command = line.replace(".venv/bin/strom", str(STROM))
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=240, env=env,
                             cwd=tmp_path)
        assert out.returncode == 0, f"README Tools line failed:\n{line}\nstderr:\n{out.stderr[-3000:]}"
        outputs.append(out.stdout)
    [consumed] = [out for line, out in zip(TOOLS, outputs) if "strom consume " in line]
    assert "hello" in consumed, consumed
