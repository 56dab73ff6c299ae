"""The user docs stay current with the code."""
from pathlib import Path

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_names_every_setting():
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in list(BROKER_CONFIGS) + list(TOPIC_CONFIGS) if f"`{name}`" not in text]
    assert not missing, f"docs/configuration.md lacks: {missing}"


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
            elif cells[4] != STATUS[defn.support]:
                wrong.append(f"{table} {name}: status {cells[4]!r}, code says {STATUS[defn.support]!r}")
            elif defn.note and defn.support != "yes" and defn.note not in cells[5]:
                wrong.append(f"{table} {name}: the note {defn.note!r} is missing")
    assert not wrong, "docs/configuration.md is out of date:\n" + "\n".join(wrong)
    for name in ("strom.http.port", "controller.quorum.voters", "log.cleanup.policy", "listeners"):
        assert BROKER_CONFIGS[name].support != "yes", name
    assert TOPIC_CONFIGS["cleanup.policy"].support != "yes"
