"""The pytest wiring of the OpenAI-compatible server stand-in (standins/openai_compatible.py)."""

from __future__ import annotations

import pytest

from standins.openai_compatible import OpenAICompatibleStandIn


@pytest.fixture
def openai_stand_in():
    with OpenAICompatibleStandIn() as server:
        yield server
