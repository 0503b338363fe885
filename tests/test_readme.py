"""The README is the user's manual: every setting it does not name is one nobody finds."""

from __future__ import annotations

from pathlib import Path

from ledgerbridge.config import Settings

README = Path(__file__).parent.parent / "README.md"


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    table = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    missing = [
        name
        for name in Settings.model_fields
        if not any(f"`LEDGERBRIDGE_{name.upper()}`" in line for line in table)
    ]
    assert not missing, f"settings the README's configuration table leaves out: {missing}"
