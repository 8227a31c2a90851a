"""The pytest wiring of the Apify API stand-in (standins/apify.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from standins.apify import ApifyStandIn, default_fake_twitter


@pytest.fixture
def apify_stand_in() -> Iterator[ApifyStandIn]:
    """A running stand-in over `default_fake_twitter()`, token "test-apify-token"."""
    with ApifyStandIn(default_fake_twitter()) as api:
        yield api
