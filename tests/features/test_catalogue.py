"""The catalogue is generated from the families and matches the built frame and the docs."""

from __future__ import annotations

from pathlib import Path

from features.catalogue import (
    CATALOGUE_COLUMNS,
    catalogue_markdown,
    feature_catalogue,
    feature_columns,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_catalogue_rows_are_unique_and_complete() -> None:
    cat = feature_catalogue()
    assert cat.columns.tolist() == CATALOGUE_COLUMNS
    assert cat.name.is_unique
    assert (cat.meaning.str.len() > 0).all() and (cat.unit.str.len() > 0).all()
    assert set(cat.dtype) <= {"float64", "int64", "str"}
    assert set(cat.family) == {
        "rfm",
        "windows",
        "engagement",
        "channel",
        "attributes",
        "subscriptions",
    }


def test_without_optional_tables() -> None:
    cat = feature_catalogue(include_optional=False)
    assert set(cat.family) == {"rfm", "windows", "channel"}
    assert cat.name.tolist() == feature_columns({"transactions"})


def test_names_carry_unit_or_window() -> None:
    for name in feature_catalogue().name:
        assert (
            any(
                part in name
                for part in (
                    "_days",
                    "_30d",
                    "_90d",
                    "_180d",
                    "_365d",
                    "_total",
                    "_value",
                    "_mean",
                    "_count",
                    "_per_period",
                )  # fmt: skip
            )
            or name
            in {
                "frequency",
                "btyd_x",
                "btyd_T",
                "btyd_t_x",
                "email_open_rate",
                "email_click_rate",
                "preferred_channel",
                "acquisition_channel",
                "loyalty_member",
                "subscription_plan",
                "auto_renew",
                "cancel_requested",
                "monthly_recurring_revenue",
            }
            or name.startswith(("days_since_", "days_to_"))
        ), name


def test_markdown_lists_every_feature() -> None:
    text = catalogue_markdown()
    for name in feature_catalogue().name:
        assert f"`{name}`" in text


def test_docs_features_md_is_up_to_date() -> None:
    assert DOCS.read_text() == catalogue_markdown() + "\n", (
        "docs/features.md is stale: regenerate it from features.catalogue.catalogue_markdown()"
    )
