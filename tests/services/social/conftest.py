"""The social tests' fixture: each review of the corpus, by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for social_corpus, whatever the import mode

from social_corpus import CORPUS


@pytest.fixture(params=sorted(CORPUS))
def name(request: pytest.FixtureRequest) -> str:
    """Each review of the corpus by name (the test runs once per review)."""
    return request.param
