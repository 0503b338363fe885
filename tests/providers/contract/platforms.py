"""Every platform the connector contract suite runs for. A new platform adds its harness
here (one line) and gets the whole suite."""

from __future__ import annotations

from providers.contract.harness import SandboxHarness
from providers.intacct.harness import IntacctHarness
from providers.qbd.harness import QbdHarness
from providers.qbo.harness import QboHarness

HARNESSES: dict[str, type[SandboxHarness]] = {
    "qbo": QboHarness,
    "qbd": QbdHarness,
    "intacct": IntacctHarness,
}
