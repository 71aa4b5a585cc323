"""Measurements the tests take along the way, printed in a 'figures' section at the end of every run."""

import pytest

FIGURES = pytest.StashKey[list[str]]()
