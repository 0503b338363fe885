"""Every platform ledgerbridge connects to. Adding a platform adds its folder under
`providers/` and one line here; everything else reads this registry."""

from __future__ import annotations

from ledgerbridge.errors import NotFoundError
from ledgerbridge.providers import intacct, qbd, qbo
from ledgerbridge.providers.plugin import Platform

PLATFORMS: dict[str, Platform] = {
    platform.name: platform for platform in (qbo.platform, qbd.platform, intacct.platform)
}


def platform_names() -> list[str]:
    """The platforms' short names, in registry order."""
    return list(PLATFORMS)


def all_platforms() -> list[Platform]:
    return list(PLATFORMS.values())


def get_platform(name: str) -> Platform:
    """The platform called `name`; `NotFoundError` when there is none."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise NotFoundError(f"no platform {name!r}; choose from {', '.join(PLATFORMS)}") from None
