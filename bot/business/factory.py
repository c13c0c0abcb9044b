"""Builds the business systems chosen in settings (`BUSINESS_BACKEND`)."""

from __future__ import annotations

from bot.business.protocol import BusinessSystems
from bot.core.settings import Settings


def build_business_systems(settings: Settings) -> BusinessSystems:
    """The configured backend: the bundled demo (its tables are created on first use) or
    the HTTP client of the company's REST APIs. Nothing connects until first use; close it
    with `aclose()`."""
    if settings.business_backend == "http":
        # Imported here: the HTTP client's dependencies are only needed when it is chosen.
        from bot.business.http import HttpBusinessSystems

        return HttpBusinessSystems(settings)
    from bot.business.demo.backend import DemoBusinessSystems

    return DemoBusinessSystems(settings.effective_business_database_url)
