"""Every provider sandbox, by name. Adding a platform adds one line here."""

from __future__ import annotations

from importlib import import_module

from ledgerbridge.sandbox.base import SandboxProvider

_SANDBOXES: dict[str, str] = {
    "qbo": "ledgerbridge.providers.qbo.sandbox:provider",
    "qbd": "ledgerbridge.providers.qbd.sandbox:provider",
    "intacct": "ledgerbridge.providers.intacct.sandbox:provider",
}


def sandbox_names() -> list[str]:
    return list(_SANDBOXES)


def get_sandbox(name: str) -> SandboxProvider:
    """The sandbox of provider `name`; KeyError if there is none."""
    module_name, _, attribute = _SANDBOXES[name].partition(":")
    provider: SandboxProvider = getattr(import_module(module_name), attribute)
    return provider


def all_sandboxes() -> list[SandboxProvider]:
    return [get_sandbox(name) for name in _SANDBOXES]
