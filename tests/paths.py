"""Where the tests find the repository and the real data beside it (CI has ../shared/realdata, not every machine)."""

from pathlib import Path

import pytest

from standins.realdata import REALDATA

REPO_ROOT = Path(__file__).resolve().parents[1]


def realdata_path(*parts: str) -> Path:
    """A path under ../shared/realdata, or a skip naming the missing path."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/realdata is absent on this machine)")
    return path
