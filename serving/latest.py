"""The latest batch scores, held in memory by the service for fast lookups and segment lists."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from core.catalog import OutputCatalog
from core.settings import SegmentSettings
from serving.batch import DECIMALS, SUBSCRIPTION_SUMS, segment_slug, segment_summary
from serving.score import score_columns

# segment lists: the score columns without the per-run ones (the subscription ones where the
# scores have them), plus the campaign's control flag
LIST_COLUMNS = [
    *(
        c
        for c in score_columns(subscriptions=True)
        if c not in ("churn_model_version", "clv_model_version", "scoring_date")
    ),
    "control",
    "campaign",
]


def jsonable(value: object) -> object:
    """A score value as plain JSON: NaN as null, numpy numbers as Python ones, dates as text."""
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [str(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if value is pd.NA or value is pd.NaT or value is None:
        return None
    return value


def api_record(record: dict[str, object]) -> dict[str, object]:
    """One customer's scores as the API answers them: plain JSON values, money to cents and
    probabilities to 4 decimals (:data:`serving.batch.DECIMALS`), ``status`` ok."""
    out = {}
    for key, value in record.items():
        value = jsonable(value)
        if key in DECIMALS and isinstance(value, float):
            value = round(value, DECIMALS[key])
        out[key] = value
    return out | {"status": "ok"}


class LatestScores:
    """Scores of the last batch run in an output folder, indexed by customer id.

    With the configured ``segments``, every configured segment is known (listed with size 0
    when no customer is in it this run), not only those the run happened to fill.
    """

    def __init__(self, catalog: OutputCatalog, segments: SegmentSettings | None = None) -> None:
        pinned = catalog.pinned()  # one run's scores, even if a new run is published now
        path = pinned.scores
        self.run_id = pinned.run_dir.name if pinned.run_dir is not None else None  # runs/<id>
        if not path.exists():
            raise FileNotFoundError(f"no batch scores at {path}: run `churnclv score` first")
        frame = pd.read_parquet(path)
        self.frame = frame.sort_values(
            ["value_at_risk", "customer_id"], ascending=[False, True], ignore_index=True
        )
        # each customer's API record, encoded once as JSON (only the bytes are kept: at a
        # million customers a dict per customer would cost gigabytes); ``control`` and
        # ``campaign`` included, so a campaign tool can skip the held-out customers
        self.json_by_id: dict[str, bytes] = {
            rec["customer_id"]: json.dumps(api_record(rec)).encode()
            for rec in frame.to_dict("records")
        }
        self.summary = segment_summary(frame)
        self.configured = (
            []
            if segments is None
            else [
                *({"segment": c.name, "risk_tier": c.risk, "value_tier": c.value,
                   "action": c.action} for c in segments.cells),
                {"segment": segments.no_purchase_segment, "risk_tier": None,
                 "value_tier": None, "action": segments.no_purchase_action},
            ]
        )  # fmt: skip
        names = [*frame["segment"].unique(), *(c["segment"] for c in self.configured)]
        self.slugs = {segment_slug(s): s for s in names}
        self.scoring_date = (
            str(pd.Timestamp(frame["scoring_date"].iloc[0]).date()) if len(frame) else None
        )
        self.versions = {
            "churn_model": str(frame["churn_model_version"].iloc[0]) if len(frame) else None,
            "clv_model": str(frame["clv_model_version"].iloc[0]) if len(frame) else None,
        }

    @property
    def customer_ids(self) -> list[str]:
        """Every scored customer id."""
        return list(self.json_by_id)

    def lookup(self, ids: list[str]) -> list[dict[str, object]]:
        """One item per id, in order; unknown ids get status ``unknown_customer``."""
        return json.loads(self.lookup_json(ids))

    def lookup_json(self, ids: list[str]) -> bytes:
        """The JSON list of :meth:`lookup`, joined from records encoded at load time (items
        separated by ", " as ``json.dumps`` of a list does)."""
        get = self.json_by_id.get
        parts = [
            get(i) or json.dumps({"customer_id": i, "status": "unknown_customer"}).encode()
            for i in ids
        ]
        return b"[" + b", ".join(parts) + b"]"

    def segment_name(self, name_or_slug: str) -> str | None:
        """The segment's name from its name or file-name slug; None when unknown."""
        if name_or_slug in self.slugs.values():
            return name_or_slug
        return self.slugs.get(name_or_slug)

    def segment_rows(self, segment: str) -> pd.DataFrame:
        """The segment's customers, highest value at risk first."""
        rows = self.frame.loc[
            self.frame["segment"] == segment, [c for c in LIST_COLUMNS if c in self.frame]
        ]
        return rows.reset_index(drop=True)

    def segments(self) -> list[dict[str, object]]:
        """Names, tiers, action, size (and how many of them a campaign holds out), expected
        revenue and value at risk of every segment."""
        rows = self.summary[self.summary["segment"] != "All customers"]
        filled = set(rows["segment"])
        # a subscription business's segments also say their recurring revenue and its part at risk
        money = [
            "expected_revenue",
            "value_at_risk",
            *(k for k in SUBSCRIPTION_SUMS if k in rows),
        ]
        return [
            {
                "segment": r["segment"],
                "slug": segment_slug(r["segment"]),
                "risk_tier": r["risk_tier"] if isinstance(r["risk_tier"], str) else None,
                "value_tier": r["value_tier"] if isinstance(r["value_tier"], str) else None,
                "action": r["action"],
                "customers": int(r["customers"]),
                "control": int(r["control"]),
                **{k: round(float(r[k]), DECIMALS[k]) for k in money},
            }
            for r in rows.to_dict("records")
        ] + [
            {**c, "slug": segment_slug(c["segment"]), "customers": 0, "control": 0,
             **dict.fromkeys(money, 0.0)}
            for c in self.configured
            if c["segment"] not in filled
        ]  # fmt: skip
