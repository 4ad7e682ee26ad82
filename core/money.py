"""Amounts as people read them: with the configured currency, thousands separators, no float noise.

Babel knows every ISO 4217 code's symbol (EUR -> €, GBP -> £, SEK -> SEK); without a currency
setting amounts are plain numbers. One function so that reasons, reports, the page and the
console write money the same way.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def check_currency(code: str) -> str:
    """The upper-cased ISO 4217 code, or ValueError naming an unknown one."""
    from babel.numbers import UnknownCurrencyError, validate_currency

    code = code.strip().upper()
    try:
        validate_currency(code)
    except UnknownCurrencyError:
        raise ValueError(
            f"unknown currency {code!r}: give an ISO 4217 code such as EUR, USD or GBP"
        ) from None
    return code


def currency_symbol(currency: str | None) -> str:
    """The symbol shown for ``currency`` ('€' for EUR, 'SEK' for SEK); '' without one."""
    if not currency:
        return ""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(currency, locale="en")


def _affix(currency: str | None) -> str:
    """What goes before the number: '€', 'SEK ' (a code, so a space), or ''."""
    symbol = currency_symbol(currency)
    return symbol + " " if symbol[-1:].isalpha() else symbol


def format_money(value: float | None, currency: str | None = None, decimals: int = 0) -> str:
    """'€1,235' (EUR, 0 decimals), '-€12.50', 'SEK 1,235', '1,234.50' (no currency); '' for a
    missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    sign = "-" if value < 0 and round(abs(value), decimals) > 0 else ""
    return f"{sign}{_affix(currency)}{abs(value):,.{decimals}f}"


def format_money_column(
    values: pd.Series, currency: str | None = None, decimals: int = 0
) -> pd.Series:
    """:func:`format_money` over a column (the symbol looked up once; missing values give '')."""
    import numpy as np

    v = values.astype("float64")
    number = v.abs().map(lambda x: f"{x:,.{decimals}f}")
    sign = np.where((v < 0) & (v.abs().round(decimals) > 0), "-", "")
    return (sign + _affix(currency) + number).where(v.notna(), "")


def money_unit(currency: str | None) -> str:
    """A label suffix for axes and column names: ' (€)' or '' without a currency."""
    symbol = currency_symbol(currency)
    return f" ({symbol})" if symbol else ""
