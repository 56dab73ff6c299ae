"""The user docs stay current with the code."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_names_every_setting():
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in list(BROKER_CONFIGS) + list(TOPIC_CONFIGS) if f"`{name}`" not in text]
    assert not missing, f"docs/configuration.md lacks: {missing}"


def test_configuration_reference_shows_each_broker_update_mode():
    """The "Update mode" column of the broker table is the table in strom.config (what
    DescribeConfigs reports as read_only and AlterConfigs accepts)."""
    text = (DOCS / "configuration.md").read_text()
    header = "| Name | Type | Strom default | Kafka default | Update mode | Status | What Strom does |"
    assert header in text
    rows = text.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    modes = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        modes[cells[0].strip("`")] = cells[4]
    assert set(modes) == set(BROKER_CONFIGS)
    for name, cell in modes.items():
        mode = BROKER_CONFIGS[name].update_mode
        assert cell == mode or cell.startswith(f"{mode} (Kafka: "), (name, cell, mode)


STATUS = {"yes": "honoured", "ignored": "**accepted, ignored**", "planned": "**not yet**", "limited": "**limited**"}


def _reference_rows() -> dict[tuple[str, str], list[str]]:
    """(table, setting) -> the cells of its row in docs/configuration.md."""
    rows, table = {}, None
    for line in (DOCS / "configuration.md").read_text().splitlines():
        if line.startswith("## "):
            table = {"## Broker settings": "broker", "## Topic settings": "topic"}.get(line.strip())
        elif table and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[(table, cells[0].strip("`"))] = cells
    return rows


def test_configuration_reference_status_matches_the_code():
    """No setting is called honoured in the reference unless the code says so (``ConfigDef.support``),
    and settings refused until their feature lands say so in their note."""
    rows = _reference_rows()
    wrong = []
    for table, configs in (("broker", BROKER_CONFIGS), ("topic", TOPIC_CONFIGS)):
        for name, defn in configs.items():
            cells = rows.get((table, name))
            if cells is None:
                wrong.append(f"{table} {name}: no row")
            elif cells[-2] != STATUS[defn.support]:
                wrong.append(f"{table} {name}: status {cells[-2]!r}, code says {STATUS[defn.support]!r}")
            elif defn.note and defn.support != "yes" and defn.note not in cells[-1]:
                wrong.append(f"{table} {name}: the note {defn.note!r} is missing")
    assert not wrong, "docs/configuration.md is out of date:\n" + "\n".join(wrong)
    for name in ("controller.quorum.voters", "listeners"):
        assert BROKER_CONFIGS[name].support != "yes", name


ROOT = DOCS.parent
_USER_FILES = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Makefile", *sorted(DOCS.glob("*.md")),
               *sorted((ROOT / "bench").iterdir()), *sorted((ROOT / "config").iterdir())]


def test_the_repository_stands_alone():
    """Nothing users read points outside the repository (a sibling ../shared, a design note)."""
    outside = []
    for path in _USER_FILES:
        text = path.read_text(errors="replace")
        for pattern in (r"\.\./shared", r"/work/", r"DESIGN\.md", r"STYLE\.md"):
            outside += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not outside, outside


def test_relative_links_resolve():
    broken = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            if not (path.parent / target).resolve().exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_readme_lists_every_doc():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    missing = [p.name for p in DOCS.glob("*.md") if f"(docs/{p.name})" not in section]
    assert not missing, f"README's Documentation list lacks {missing}"


def test_pyproject_points_at_the_architecture_doc():
    text = (ROOT / "pyproject.toml").read_text()
    assert "docs/architecture.md" in text and (DOCS / "architecture.md").is_file()


def test_the_prometheus_files_in_operations_md_pass_promtool(tmp_path):
    """The scrape configuration and the alert rules of the Metrics section are valid Prometheus files."""
    section = (DOCS / "operations.md").read_text().split("## Metrics", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the Metrics section shows a scrape configuration and a rule file"
    assert "scrape_configs:" in blocks[0] and "alert: StromUnderReplicatedPartitions" in blocks[1]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; `make test` does it as root)")
    (tmp_path / "prometheus.yml").write_text(blocks[0])
    (tmp_path / "strom.rules.yml").write_text(blocks[1])
    for args in (["check", "config", str(tmp_path / "prometheus.yml")],
                 ["check", "rules", str(tmp_path / "strom.rules.yml")]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
