"""Which registered pair serves: the gate that compares like with like, promote and roll back.

The gate decides whether a new training run's pair becomes ``champion`` or stays
``challenger``. It compares like with like:

* the two must predict the same thing: the same churn and CLV horizons, trained on the same
  data sources; otherwise the new pair stays challenger and the reason says why (promote it by
  hand with ``churnclv promote`` if that is the intent);
* both are scored on the new run's own test snapshot: the champion's bundle is downloaded and
  re-scored on those customers at that cutoff, and its ROC-AUC (churn) and Spearman (revenue)
  are compared with the new run's backtest figures on the same rows. A champion trained on
  data that reaches into the test window has seen some of the outcomes, so its figures are
  favoured and the reason says so: the gate errs towards keeping the champion.

Every change of champion (gate, ``promote``, ``rollback``) is recorded: the pair, who, when and
why, as tags of the run and in the champion history kept on ``churn_model`` (what ``rollback``
goes back through).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.faults import checkpoint
from core.registry import (
    CHURN_MODEL,
    CLV_MODEL,
    MODELS,
    ModelNotFoundError,
    RegisteredPair,
    download_bundle,
    pair_tag,
    pair_versions,
    registered_pair,
    version_pair,
)
from core.settings import Settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from training.train import TrainingResult

GATED = {"churn": "roc_auc", "revenue": "spearman"}
HISTORY_TAG = "churnclv.champion_history"
"""Tag of ``churn_model``: the champion pairs in order, each with who, when and why."""


@dataclass(frozen=True)
class Identity:
    """What a pair predicts and from what: compared before any metric."""

    churn_horizon_days: int
    clv_horizon_days: int
    data: str

    def differences(self, other: Identity) -> list[str]:
        """What differs, in words ('churn horizon 60 days, the champion's 90')."""
        out = []
        for name, mine, theirs in (
            ("churn horizon", self.churn_horizon_days, other.churn_horizon_days),
            ("CLV horizon", self.clv_horizon_days, other.clv_horizon_days),
        ):
            if mine != theirs:
                out.append(f"{name} {mine} days, the champion's {theirs}")
        if self.data != other.data:
            out.append(f"data {self.data}, the champion's {other.data}")
        return out

    def tags(self) -> dict[str, str]:
        return {
            "identity.churn_horizon_days": str(self.churn_horizon_days),
            "identity.clv_horizon_days": str(self.clv_horizon_days),
            "identity.data": self.data,
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Identity | None:
        try:
            return cls(
                int(tags["identity.churn_horizon_days"]),
                int(tags["identity.clv_horizon_days"]),
                tags["identity.data"],
            )
        except KeyError:
            return None  # registered before identities were recorded


def run_identity(settings: Settings) -> Identity:
    """The identity of a training run with these settings (data: each table's source as the
    settings name it)."""
    from features.contract import ContractError
    from features.sources import resolve_sources, source_label

    try:
        sources = resolve_sources(settings.data)
    except ContractError:  # trained from tables in memory (tests, notebooks)
        return Identity(settings.churn_horizon_days, settings.clv_horizon_days, "tables in memory")
    # the sources as configured (a project folder moved or copied is the same data)
    data = "; ".join(f"{name} {source_label(src, name)}" for name, src in sources.items())
    return Identity(settings.churn_horizon_days, settings.clv_horizon_days, data)


def gate(
    new: dict[str, float] | None, champion: dict[str, float] | None, settings: Settings
) -> tuple[bool, str]:
    """Decide promotion from headline metrics on the same rows; returns (promote?, reason).

    A model without a backtest (``new`` None, the label-free fallback) becomes champion only
    when there is none: it cannot show it is not worse than one that was tested.
    """
    if champion is None:
        return True, "no champion yet" + (" (this model has no backtest)" if new is None else "")
    if not champion:  # a label-free champion: anything newer replaces it
        return True, "the champion has no backtest"
    if new is None:
        return False, "not promoted: no backtest to compare with the champion's"
    tol = {
        "churn": settings.model.gate_tolerance_auc,
        "revenue": settings.model.gate_tolerance_spearman,
    }
    worse = [
        f"{kind} {GATED[kind]} {new[kind]:.4f} < champion {champion[kind]:.4f} - {tol[kind]}"
        for kind in GATED
        if new[kind] < champion[kind] - tol[kind]
    ]
    if worse:
        return False, "not promoted: " + "; ".join(worse)
    return True, (
        f"not worse than champion (churn {GATED['churn']} {new['churn']:.4f} vs "
        f"{champion['churn']:.4f}, revenue {GATED['revenue']} {new['revenue']:.4f} vs "
        f"{champion['revenue']:.4f})"
    )


def headline(result: TrainingResult) -> dict[str, float] | None:
    """The gated metrics of the served candidates (None: nothing was backtested)."""
    if result.plan is None:
        return None
    churn = result.churn_metrics.set_index("model").loc[result.served["churn"]]
    revenue = result.revenue_metrics.set_index("model").loc[result.served["revenue"]]
    return {"churn": float(churn[GATED["churn"]]), "revenue": float(revenue[GATED["revenue"]])}


def rescore_champion(
    result: TrainingResult, champion_dir: Path
) -> tuple[dict[str, float], dt.date | None]:
    """The champion's gated metrics on the new run's test snapshot, and its data end."""
    from model.bundle import ModelBundle
    from training.metrics import evaluate_churn, evaluate_revenue

    bundle = ModelBundle.load(champion_dir)
    test = result.test_frame
    pred = bundle.predict(test, result.plan.test_cutoff)
    y, revenue = test["churned"].to_numpy(), test["future_revenue"].to_numpy()
    metrics = {
        "churn": evaluate_churn(y, pred["churn_probability"].to_numpy())[GATED["churn"]],
        "revenue": evaluate_revenue(revenue, np.nan_to_num(pred["label_revenue"].to_numpy()))[
            GATED["revenue"]
        ],
    }
    end = bundle.meta.get("data", {}).get("data_end")
    return metrics, dt.date.fromisoformat(str(end)) if end else None


def decide(
    client: MlflowClient, result: TrainingResult, settings: Settings, identity: Identity
) -> tuple[bool, str]:
    """The gate's decision for a new run against the registered champion, like with like."""
    from mlflow.exceptions import MlflowException

    from core.mlflow_store import StoreError

    uri = settings.mlflow_tracking_uri
    try:
        champion = registered_pair(client, "champion", uri)
    except ModelNotFoundError:
        return gate(headline(result), None, settings)
    run_data = client.get_run(champion.run_id).data  # its identity tags and metrics
    theirs = Identity.from_tags(run_data.tags)
    if theirs is not None and (differ := identity.differences(theirs)):
        return False, "not promoted: not comparable with the champion (" + "; ".join(differ) + ")"
    metrics = run_data.metrics
    if not all(f"{kind}.served.{m}" in metrics for kind, m in GATED.items()):
        return gate(headline(result), {}, settings)  # a label-free champion
    new = headline(result)
    if new is None:  # label-free: cannot show it is not worse than a tested champion
        recorded = {kind: metrics[f"{kind}.served.{m}"] for kind, m in GATED.items()}
        return gate(None, recorded, settings)
    from model.bundle import BundleFormatError

    try:
        with tempfile.TemporaryDirectory() as tmp:
            pair = download_bundle(champion, uri, Path(tmp))
            scored, champion_end = rescore_champion(result, pair.path)
    except BundleFormatError:  # a champion this churnclv cannot serve any more
        return True, (
            f"the champion ({CHURN_MODEL} v{champion.versions[CHURN_MODEL]}) was trained by an "
            "older churnclv whose bundle format this one cannot apply, so it can no longer serve"
        )
    except (StoreError, MlflowException, KeyError, ValueError, OSError) as exc:
        return False, (
            "not promoted: the champion could not be scored on this run's test snapshot "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        )
    promote, reason = gate(new, scored, settings)
    where = f" on this run's test snapshot of {result.plan.test_cutoff}"
    if champion_end is not None and champion_end > result.plan.test_cutoff:
        where += (
            f"; the champion was trained on data up to {champion_end}, inside that test window,"
            " so its figures are favoured"
        )
    return promote, reason + where


@dataclass(frozen=True)
class ChampionChange:
    """One entry of the champion history."""

    versions: dict[str, str]
    run_id: str
    by: str
    at: str
    why: str


def history(client: MlflowClient) -> list[ChampionChange]:
    """The champion pairs in the order they were set (oldest first)."""
    from mlflow.exceptions import MlflowException

    try:
        raw = client.get_registered_model(CHURN_MODEL).tags.get(HISTORY_TAG)
    except MlflowException:
        return []
    return [ChampionChange(**entry) for entry in json.loads(raw or "[]")]


def set_pair(client: MlflowClient, alias: str, versions: dict[str, str]) -> None:
    """Both aliases, then the pair tag in one write (what readers trust)."""
    for name, version in versions.items():
        client.set_registered_model_alias(name, alias, version)
        checkpoint(f"train:{alias}-alias-set")
    client.set_registered_model_tag(CHURN_MODEL, pair_tag(alias), json.dumps(versions))


def make_champion(client: MlflowClient, pair: RegisteredPair, why: str) -> ChampionChange:
    """Set ``pair`` as champion and record who, when and why (run tags and the history)."""
    change = ChampionChange(
        versions=pair.versions,
        run_id=pair.run_id,
        by=getpass.getuser(),
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        why=why,
    )
    set_pair(client, "champion", pair.versions)
    tags = client.get_registered_model(CHURN_MODEL).tags
    if pair_versions(tags, "challenger") == pair.versions:  # the challenger won: no longer one
        for name in MODELS:
            client.delete_registered_model_alias(name, "challenger")
        client.delete_registered_model_tag(CHURN_MODEL, pair_tag("challenger"))
    entries = [*history(client), change]
    client.set_registered_model_tag(
        CHURN_MODEL, HISTORY_TAG, json.dumps([vars(e) for e in entries][-50:])
    )
    for key, value in (("by", change.by), ("at", change.at), ("why", change.why)):
        client.set_tag(pair.run_id, f"champion.{key}", value)
    return change


def repair_pairs(client: MlflowClient) -> None:
    """Point both aliases of a pair at the versions its pair tag records, where a run was
    stopped between the two alias calls (see :func:`core.registry.pair_tag`)."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(CHURN_MODEL).tags
    except MlflowException:
        return
    for alias in ("champion", "challenger"):
        pair = pair_versions(tags, alias)
        for name, version in (pair or {}).items():
            try:
                current = str(client.get_model_version_by_alias(name, alias).version)
            except MlflowException:
                current = None
            if current != version:
                client.set_registered_model_alias(name, alias, version)


class PromotionError(ModelNotFoundError):
    """A promote or roll back that cannot be done (names the reason)."""


def promote(client: MlflowClient, version: str, why: str, uri: str) -> ChampionChange:
    """Make the pair of ``churn_model`` version ``version`` the champion, by hand."""
    pair = version_pair(client, version, uri)
    try:
        current = registered_pair(client, "champion", uri)
    except ModelNotFoundError:
        current = None
    if current is not None and current.versions == pair.versions:
        raise PromotionError(f"{CHURN_MODEL} v{version} is already the champion")
    return make_champion(client, pair, why or "promoted by hand")


def rollback(client: MlflowClient, why: str, uri: str) -> ChampionChange:
    """Make the champion before the current one champion again."""
    current = registered_pair(client, "champion", uri)
    earlier = [e for e in history(client) if e.versions != current.versions]
    if not earlier:
        raise PromotionError(
            "no earlier champion to roll back to: `churnclv models` lists the versions; "
            "`churnclv promote VERSION` makes any of them champion"
        )
    previous = earlier[-1]
    pair = RegisteredPair(previous.versions, previous.run_id)
    return make_champion(
        client, pair, why or f"rolled back from {CHURN_MODEL} v{current.versions[CHURN_MODEL]}"
    )


def model_versions(client: MlflowClient) -> list[dict[str, object]]:
    """Every registered pair, newest first: versions, aliases, when, test cutoff, gated
    metrics, horizons and the recorded promotion reason."""
    from mlflow.exceptions import MlflowException

    try:
        churn_versions = client.search_model_versions(f"name='{CHURN_MODEL}'")
    except MlflowException:
        return []
    clv_by_run = {mv.run_id: mv for mv in client.search_model_versions(f"name='{CLV_MODEL}'")}
    rows = []
    for listed in sorted(churn_versions, key=lambda m: int(m.version), reverse=True):
        mv = client.get_model_version(CHURN_MODEL, listed.version)  # search leaves out aliases
        run = client.get_run(mv.run_id)
        metrics, tags, params = run.data.metrics, run.data.tags, run.data.params
        clv = clv_by_run.get(mv.run_id)
        rows.append(
            {
                "churn_model": str(mv.version),
                "clv_model": str(clv.version) if clv else None,
                "aliases": ", ".join(sorted(mv.aliases)),
                "registered": f"{dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC):%Y-%m-%d %H:%M} UTC",
                "data_end": params.get("data.data_end"),
                "test_cutoff": params.get("data.test_cutoff"),
                "churn_horizon_days": params.get("churn_horizon_days"),
                "churn_roc_auc": metrics.get("churn.served.roc_auc"),
                "revenue_spearman": metrics.get("revenue.served.spearman"),
                "decision": tags.get("champion.why") or tags.get("promotion"),
            }
        )
    return rows
