"""The user docs stay current with the code."""
from pathlib import Path

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_names_every_setting():
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in list(BROKER_CONFIGS) + list(TOPIC_CONFIGS) if f"`{name}`" not in text]
    assert not missing, f"docs/configuration.md lacks: {missing}"
