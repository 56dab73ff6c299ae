"""The user docs stay current with the code."""
from pathlib import Path

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
