"""Shared test fixtures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UKRAINE = FIXTURES / "ukraine-talks.txt"


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261127)
