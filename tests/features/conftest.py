"""Fixtures: the tiny hand-written tables (see tests/features/tiny.py) and their features."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import InputTables
from tests.features.tiny import CUTOFF, tiny_tables


@pytest.fixture(scope="session")
def tiny() -> InputTables:
    return tiny_tables()


@pytest.fixture(scope="session")
def tiny_features(tiny: InputTables) -> pd.DataFrame:
    """Features of the tiny tables at the cutoff, indexed by customer_id for lookups."""
    from features.build import build_features

    return build_features(tiny, CUTOFF).set_index("customer_id", drop=False)
