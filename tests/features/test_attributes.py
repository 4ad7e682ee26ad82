"""Customer attributes and preferred channel: hand-computed values on the tiny tables."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.features.helpers import NAN, assert_row

EXPECTED = {
    "00042": {"acquisition_channel": "ads", "loyalty_member": 1.0, "signup_age_days": 61.0},
    "00007": {"acquisition_channel": NAN, "loyalty_member": NAN, "signup_age_days": 244.0},
    "8": {"acquisition_channel": "organic", "loyalty_member": 0.0, "signup_age_days": 1.0},
    "9": {"acquisition_channel": NAN, "loyalty_member": NAN, "signup_age_days": NAN},
}


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_attributes_hand_computed(tiny_features: pd.DataFrame, customer_id: str) -> None:
    assert_row(tiny_features, customer_id, EXPECTED[customer_id])


def test_signup_after_cutoff_is_not_known(tiny_features: pd.DataFrame) -> None:
    assert "5" not in tiny_features.index


PREFERRED = {
    "00042": "email",  # 5 email events beat web (2 rows + a visit) and app (1 + 1)
    "00007": "app",  # store 2, web 2, app 2: tie broken alphabetically
    "3": "store",
    "9": "phone",
    "11": NAN,  # no channel recorded
    "8": NAN,
}


@pytest.mark.parametrize("customer_id", sorted(PREFERRED))
def test_preferred_channel(tiny_features: pd.DataFrame, customer_id: str) -> None:
    assert_row(tiny_features, customer_id, {"preferred_channel": PREFERRED[customer_id]})
