"""The data's own event types and customer attributes: chosen in training, used by the models,
stored with them, read by reasons with the direction learned on the training cutoffs."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from churnclv.scenarios import generate_scenario
from core.settings import Settings, load_settings
from features import build_features
from features.contract import InputTables
from features.vocabulary import Attribute, Vocabulary
from serving.score import score_customers
from training.train import TrainingResult, fit_directions, train_models

OWN_TYPES = ("product_view", "cart_add", "complaint")


def test_directions_are_the_sign_of_the_rank_correlation_with_churn() -> None:
    vocab = Vocabulary(("complaint",), (Attribute("km"), Attribute("region", ("north",))))
    fit = pd.DataFrame(
        {
            "churned": [True, True, False, False],
            "events_complaint_30d": [3, 2, 0, 1],  # more complaints, more churn: +1
            "days_since_complaint": [1.0, 2.0, 30.0, 9.0],  # recent complaint, churn: -1
            "events_complaint_90d": [1, 1, 1, 1],  # constant: no direction
            "attr_km": [5.0, 1.0, 5.0, 1.0],  # uncorrelated: no direction
            "attr_region": ["north", "other", "north", "other"],  # text: no direction
        }
    )
    assert fit_directions(fit, vocab) == {"events_complaint_30d": 1, "days_since_complaint": -1}


@pytest.fixture(scope="module")
def data() -> InputTables:
    d = generate_scenario("own-columns", 2000, seed=5)
    return InputTables(d.transactions, d.events, d.customers)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("own")
    return load_settings(
        None,
        {
            "output_dir": str(root / "out"),
            "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "model.n_snapshots": 3,
            "model.clv_check": False,
            "model.exclude_attributes": ["REGION"],
        },
    )


@pytest.fixture(scope="module")
def result(data: InputTables, settings: Settings) -> TrainingResult:
    return train_models(data, settings)


@pytest.mark.slow
class TestTrainingOnOwnColumns:
    def test_the_own_types_and_columns_are_model_inputs(self, result: TrainingResult) -> None:
        vocab = Vocabulary.from_dict(result.bundle.vocabulary)
        assert vocab.event_types == OWN_TYPES  # by frequency: views, then cart adds
        assert [a.column for a in vocab.attributes] == ["age_band", "store_distance_km"]
        assert vocab.attributes[0].levels == ("18-24", "25-34", "35-44", "45-54", "55+")
        columns = result.bundle.spec.columns
        for name in ("events_complaint_90d", "days_since_product_view", "attr_store_distance_km"):
            assert name in columns
        assert result.bundle.spec.categories["attr_age_band"] == list(vocab.attributes[0].levels)
        assert "attr_region" not in columns  # excluded in the settings, case aside

    def test_learned_directions_match_the_simulation(self, result: TrainingResult) -> None:
        """Views fade and complaints come before dropout in the simulation."""
        d = result.bundle.directions
        assert d["events_product_view_90d"] == -1 and d["days_since_product_view"] == 1
        assert d["events_complaint_90d"] == 1

    def test_scoring_and_reasons_use_them(self, result: TrainingResult, data: InputTables) -> None:
        end = result.data_end
        vocab = Vocabulary.from_dict(result.bundle.vocabulary)
        feats = build_features(data, end, vocabulary=vocab)
        scores = score_customers(
            feats, result.bundle, load_settings(None).segments, scoring_date=end
        )
        reasons = [r for rs in scores["reasons"] for r in rs]
        assert any("product view" in r for r in reasons)
        # a view count is a risk reason only when below the typical customer's (fewer views,
        # more churn, as learned): never "many product views" for a customer at risk
        risky = scores[scores["risk_tier"] == "high"]
        counts = [
            (int(m["n"]), f"events_product_view_{m['days']}d")
            for rs in risky["reasons"]
            for r in rs
            if (m := re.match(r"(?P<n>\d+) product view events? in the last (?P<days>\d+)", r))
        ]
        assert counts, "no customer at risk is explained by their product views"
        typical = result.bundle.typical
        assert all(n < typical[col] for n, col in counts), counts[:5]
