"""Exact TreeSHAP values of a LightGBM booster, many times faster than ``pred_contrib``.

The same numbers as LightGBM's ``predict(..., pred_contrib=True)`` (path-dependent TreeSHAP,
Lundberg et al. 2018; tested equal to 1e-9), computed the way of "Fast TreeSHAP v2" (Yang 2021):

For one tree, the expected output when only the features in S are known is a sum over leaves,
``v(S) = sum_l value_l * prod_{j in U_l} (s_j(x) if j in S else r_j)``, where ``U_l`` are the
distinct features on the path to leaf ``l``, ``r_j`` the share of the training rows that follow
the path's edges on ``j`` (the product of the edges' cover ratios) and ``s_j(x)`` is 1 when
``x`` follows all of them, else 0. So the Shapley values of leaf ``l``'s game depend on ``x``
only through the bits ``s(x)`` of at most ``max_depth`` features: they are computed once per
leaf and bit pattern when the explainer is built (``2^d x d`` numbers per leaf of depth
``d``), and explaining a customer is a table look-up per leaf, ``O(leaves x depth)`` per tree
instead of ``O(leaves x depth^2)``. Two sibling leaves share one table (one more bit), which
saves a third of the look-ups in a depth-6 tree.

Written here because no maintained library offers it for LightGBM: LightGBM and ``shap`` run
the quadratic algorithm, and the ``fasttreeshap`` package that implemented v2 has had no
release since 2023. numba compiles the two loops (cached on disk after the first run); the work
runs in threads with the GIL released. Measured in ``bench/bench_scoring.py``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd
from numba import njit

__all__ = ["TreeExplainer", "feature_values"]

_NUMERIC, _CATEGORICAL = 0, 1
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}  # LightGBM's missing types
MAX_NODES = 64  # splits per tree: a row's decisions in one tree fit one 64-bit word
MAX_PATH_FEATURES = 12  # distinct features on a path: a leaf's table has 2^d x d numbers


class TreeTooLargeError(ValueError):
    """A tree beyond the limits above (num_leaves above 65, or paths through more than 12
    distinct features): explain such a model with LightGBM's own ``pred_contrib``."""


@dataclass(frozen=True)
class _Forest:
    """A booster's trees as flat arrays (what the compiled loops read).

    Leaves are grouped in look-up units: a leaf, or two sibling leaves (their paths differ only
    in the last edge, so one table indexed by one more bit serves both). A unit's pattern has
    one bit per mask ("the row takes every edge in ``mask_left`` left and every edge in
    ``mask_right`` right"); its table row for a pattern holds the values of its features."""

    node_start: np.ndarray  # per tree: first node (global index); length trees + 1
    node_feature: np.ndarray
    node_kind: np.ndarray  # _NUMERIC / _CATEGORICAL
    node_missing: np.ndarray  # 0 none, 1 zero, 2 NaN
    node_default_left: np.ndarray
    node_threshold: np.ndarray
    cat_start: np.ndarray  # per node: its categories (left side) in cats[cat_start[k]:...[k+1]]
    cats: np.ndarray
    unit_start: np.ndarray  # per tree: first unit; length trees + 1
    mask_start: np.ndarray  # per unit: its pattern bits' masks; length units + 1
    mask_left: np.ndarray  # bits of the tree's nodes the edges go left at
    mask_both: np.ndarray  # bits of the nodes the edges go through (left | right)
    feature_start: np.ndarray  # per unit: the features its table gives values for
    feature: np.ndarray
    table_start: np.ndarray  # per unit: its (2^masks x features) table in ``table``
    table: np.ndarray
    bias: float  # sum of the trees' expected outputs (pred_contrib's last column)


@dataclass
class _Leaf:
    """A leaf's path: distinct features (in order of first use), per feature the share of
    training rows that follows the path's edges on it and the masks of those edges."""

    value: float
    features: list[int]
    zero: list[float]
    left: list[int]
    right: list[int]

    @classmethod
    def of(cls, value: float, path: list[tuple[int, bool, int, float]]) -> _Leaf:
        leaf = cls(value, [], [], [], [])
        for k, went_left, feature, share in path:
            if feature not in leaf.features:
                leaf.features.append(feature)
                leaf.zero.append(1.0)
                leaf.left.append(0)
                leaf.right.append(0)
            i = leaf.features.index(feature)
            leaf.zero[i] *= share
            if went_left:
                leaf.left[i] |= 1 << k
            else:
                leaf.right[i] |= 1 << k
        if len(leaf.features) > MAX_PATH_FEATURES:
            raise TreeTooLargeError(f"a path splits on {len(leaf.features)} distinct features")
        return leaf

    def table(self) -> np.ndarray:
        d = len(self.features)
        out = np.zeros((1 << d, d))
        _leaf_table(np.array(self.zero), self.value, _weights(d), out)
        return out


class TreeExplainer:
    """TreeSHAP values of one LightGBM booster; build once per model, reuse for every batch.

    >>> explainer = TreeExplainer(booster)
    >>> contrib = explainer.contributions(matrix)  # == booster.predict(matrix, pred_contrib=True)
    """

    def __init__(self, booster) -> None:  # noqa: ANN001 - lightgbm.Booster
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise ValueError("TreeExplainer explains single-output models (not multiclass)")
        self.n_features = int(dump["max_feature_idx"]) + 1
        self.pandas_categorical = booster.pandas_categorical or []
        self._forest = _flatten([t["tree_structure"] for t in dump["tree_info"]])

    def contributions(self, matrix: pd.DataFrame | np.ndarray, threads: int | None = None):
        """One row per customer: each feature's SHAP value in the model's raw (log-odds)
        output, then the bias, as LightGBM's ``pred_contrib`` gives them."""
        x = feature_values(matrix, self.pandas_categorical)
        if x.shape[1] != self.n_features:
            raise ValueError(f"the model has {self.n_features} inputs, the matrix {x.shape[1]}")
        out = np.zeros((len(x), self.n_features + 1))
        out[:, -1] = self._forest.bias
        threads = threads or min(os.cpu_count() or 1, 8)
        bounds = np.linspace(0, len(x), min(threads, max(1, len(x) // 2_000)) + 1).astype(int)
        parts = [(x[a:b], out[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        if len(parts) == 1:
            self._run(*parts[0])
        else:  # the compiled loop releases the GIL: one thread per slice of rows
            with ThreadPoolExecutor(len(parts)) as pool:
                list(pool.map(lambda p: self._run(*p), parts))
        return out

    def _run(self, x: np.ndarray, out: np.ndarray) -> None:
        f = self._forest
        _explain(
            x, out, f.node_start, f.node_feature, f.node_kind, f.node_missing,
            f.node_default_left, f.node_threshold, f.cat_start, f.cats, f.unit_start,
            f.mask_start, f.mask_left, f.mask_both, f.feature_start, f.feature, f.table_start,
            f.table,
        )  # fmt: skip


def feature_values(matrix: pd.DataFrame | np.ndarray, pandas_categorical: list) -> np.ndarray:
    """The float64 rows LightGBM's predict sees: pandas categories as the codes of the levels
    stored with the model (unknown or missing: NaN), missing values as NaN."""
    if not isinstance(matrix, pd.DataFrame):
        return np.ascontiguousarray(matrix, dtype=np.float64)
    kinds = [isinstance(d, pd.CategoricalDtype) for d in matrix.dtypes]
    out = np.empty(matrix.shape, dtype=np.float64)
    numeric = [i for i, categorical in enumerate(kinds) if not categorical]
    if numeric:  # in one conversion: per-column ones dominate a one-row matrix
        out[:, numeric] = matrix.iloc[:, numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    levels = iter(pandas_categorical)
    for i in (i for i, categorical in enumerate(kinds) if categorical):
        col = matrix.iloc[:, i]
        stored = next(levels, None)  # LightGBM's levels, in the order of the columns
        codes = (col if stored is None else col.cat.set_categories(stored)).cat.codes.to_numpy()
        out[:, i] = np.where(codes < 0, np.nan, codes.astype(np.float64))
    return out


def _flatten(trees: list[dict]) -> _Forest:
    """Walk each tree's JSON once: nodes with their decision rule, leaves in look-up units."""
    nodes: dict[str, list] = {k: [] for k in ("feature", "kind", "missing", "left", "thr")}
    cat_start, cats = [0], []
    node_start, unit_start = [0], [0]
    mask_start, mask_left, mask_both, feature_start, features = [0], [], [], [0], []
    table_start, tables = [0], []
    bias = 0.0

    def unit(masks: list[tuple[int, int]], unit_features: list[int], table: np.ndarray) -> None:
        mask_left.extend(left for left, _ in masks)
        mask_both.extend(left | right for left, right in masks)
        mask_start.append(len(mask_left))
        features.extend(unit_features)
        feature_start.append(len(features))
        tables.append(table.ravel())
        table_start.append(table_start[-1] + table.size)

    def visit(node: dict, path: list[tuple[int, bool, int, float]]) -> None:
        nonlocal bias
        if "split_index" not in node:  # a leaf whose sibling is not a leaf (or a stump)
            leaf = _Leaf.of(float(node["leaf_value"]), path)
            unit(list(zip(leaf.left, leaf.right, strict=True)), leaf.features, leaf.table())
            bias += leaf.value * float(np.prod(leaf.zero))
            return
        k = len(nodes["feature"]) - node_start[-1]  # its number in this tree
        categorical = node["decision_type"] == "=="
        nodes["feature"].append(node["split_feature"])
        nodes["kind"].append(_CATEGORICAL if categorical else _NUMERIC)
        nodes["missing"].append(_MISSING[node["missing_type"]])
        nodes["left"].append(bool(node["default_left"]))
        nodes["thr"].append(np.nan if categorical else float(node["threshold"]))
        if categorical:
            cats.extend(int(c) for c in str(node["threshold"]).split("||"))
        cat_start.append(len(cats))
        count = node["internal_count"]
        edges = [
            [*path, (k, side == "left_child", node["split_feature"], _count(node[side]) / count)]
            if count
            else [*path, (k, side == "left_child", node["split_feature"], 0.0)]
            for side in ("left_child", "right_child")
        ]
        left, right = node["left_child"], node["right_child"]
        if "split_index" in left or "split_index" in right:
            visit(left, edges[0])
            visit(right, edges[1])
            return
        # two sibling leaves: same features, same masks but for this node's feature, whose
        # slot i reads "went left" in one and "went right" in the other; one extra bit
        a, b = (
            _Leaf.of(float(c["leaf_value"]), e) for c, e in zip((left, right), edges, strict=True)
        )
        i, d = a.features.index(node["split_feature"]), len(a.features)
        ta, tb = a.table(), b.table()
        pattern = np.arange(1 << (d + 1))
        pa = pattern & ((1 << d) - 1)
        pb = (pa & ~(1 << i)) | ((pattern >> d) << i)
        masks = [*zip(a.left, a.right, strict=True), (b.left[i], b.right[i])]
        unit(masks, a.features, ta[pa] + tb[pb])
        bias += a.value * float(np.prod(a.zero)) + b.value * float(np.prod(b.zero))

    for root in trees:
        visit(root, [])
        if (splits := len(nodes["feature"]) - node_start[-1]) > MAX_NODES:
            raise TreeTooLargeError(f"a tree has {splits} splits, more than {MAX_NODES}")
        node_start.append(len(nodes["feature"]))
        unit_start.append(len(mask_start) - 1)
    ints = {"dtype": np.int64}
    return _Forest(
        node_start=np.array(node_start, **ints),
        node_feature=np.array(nodes["feature"], **ints),
        node_kind=np.array(nodes["kind"], dtype=np.int8),
        node_missing=np.array(nodes["missing"], dtype=np.int8),
        node_default_left=np.array(nodes["left"], dtype=np.bool_),
        node_threshold=np.array(nodes["thr"], dtype=np.float64),
        cat_start=np.array(cat_start, **ints),
        cats=np.array(cats, **ints),
        unit_start=np.array(unit_start, **ints),
        mask_start=np.array(mask_start, **ints),
        mask_left=np.array(mask_left, dtype=np.uint64),
        mask_both=np.array(mask_both, dtype=np.uint64),
        feature_start=np.array(feature_start, **ints),
        feature=np.array(features, **ints),
        table_start=np.array(table_start, **ints),
        table=np.concatenate(tables) if tables else np.zeros(0),
        bias=bias,
    )


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _weights(d: int) -> np.ndarray:
    """Shapley weights |S|! (d - |S| - 1)! / d! for |S| = 0 .. d-1."""
    return np.array([1.0 / (d * comb(d - 1, k)) for k in range(d)]) if d else np.zeros(0)


@njit(cache=True)
def _leaf_table(zero: np.ndarray, value: float, weights: np.ndarray, out: np.ndarray) -> None:
    """Shapley values of one leaf's game for every bit pattern ``p`` (bit j: the row follows
    the path's edges on the leaf's j-th feature): ``out[p, i] = value * (s_i - r_i) *
    sum_k w_k e_k``, ``e_k`` the coefficient of z^k in ``prod_{j != i} (r_j + s_j z)``."""
    d = zero.shape[0]
    coef = np.zeros(d + 1)
    for p in range(1 << d):
        for i in range(d):
            coef[:] = 0.0
            coef[0] = 1.0
            degree = 0
            for j in range(d):
                if j == i:
                    continue
                s = float((p >> j) & 1)
                for k in range(degree + 1, 0, -1):
                    coef[k] = coef[k] * zero[j] + coef[k - 1] * s
                coef[0] *= zero[j]
                degree += 1
            total = 0.0
            for k in range(d):
                total += weights[k] * coef[k]
            out[p, i] = value * (float((p >> i) & 1) - zero[i]) * total


@njit(cache=True, nogil=True)
def _explain(
    x, out, node_start, node_feature, node_kind, node_missing, node_default_left,
    node_threshold, cat_start, cats, unit_start, mask_start, mask_left, mask_both,
    feature_start, unit_feature, table_start, table,
):  # fmt: skip
    """Add each tree's SHAP values of each row of ``x`` to ``out`` (see the module doc).

    Rows go in blocks (copied feature by feature so each node reads one contiguous run); for
    each tree, first every row's decision at every node (one bit per node), then unit by unit
    over the block's rows, so one unit's table stays in cache and consecutive additions go to
    different rows (no chain of dependent additions)."""
    block = 512
    n = x.shape[0]
    bits = np.zeros(block, dtype=np.uint64)  # bit k: the row goes left at the tree's k-th node
    pattern = np.zeros(block, dtype=np.int64)
    acc = np.zeros((out.shape[1], block))  # the block's values, one contiguous row per feature
    cols = np.zeros((x.shape[1], block))  # the block's inputs, one contiguous row per feature
    for start in range(0, n, block):
        stop = min(start + block, n)
        acc[:] = 0.0
        for r in range(start, stop):
            for j in range(x.shape[1]):
                cols[j, r - start] = x[r, j]
        for t in range(node_start.shape[0] - 1):
            first = node_start[t]
            bits[:] = 0
            for k in range(first, node_start[t + 1]):
                feature, kind, missing = node_feature[k], node_kind[k], node_missing[k]
                threshold, default_left = node_threshold[k], node_default_left[k]
                flag = np.uint64(1) << np.uint64(k - first)
                column = cols[feature]
                if kind == 1:  # categorical: left for the listed codes; NaN, negative: right
                    for r in range(stop - start):
                        v = column[r]
                        code = -1 if np.isnan(v) else np.int64(v)
                        if code >= 0:
                            for c in range(cat_start[k], cat_start[k + 1]):
                                if cats[c] == code:
                                    bits[r] |= flag
                                    break
                elif missing == 0:  # NaN reads as 0
                    for r in range(stop - start):
                        v = column[r]
                        if (0.0 if np.isnan(v) else v) <= threshold:
                            bits[r] |= flag
                else:  # NaN (missing type NaN) or zero (type Zero) goes the default way
                    for r in range(stop - start):
                        v = column[r]
                        if missing == 2:
                            go = default_left if np.isnan(v) else v <= threshold
                        else:
                            v = 0.0 if np.isnan(v) else v
                            go = default_left if abs(v) <= 1e-35 else v <= threshold
                        if go:
                            bits[r] |= flag
            for u in range(unit_start[t], unit_start[t + 1]):
                m0, f0 = mask_start[u], feature_start[u]
                masks, width = mask_start[u + 1] - m0, feature_start[u + 1] - f0
                pattern[:] = 0
                for m in range(masks):  # bit m: the row takes every edge of mask m
                    want, through = mask_left[m0 + m], mask_both[m0 + m]
                    for i in range(stop - start):
                        if (bits[i] & through) == want:
                            pattern[i] |= 1 << m
                base = table_start[u]
                for j in range(width):
                    row = acc[unit_feature[f0 + j]]
                    for i in range(stop - start):
                        row[i] += table[base + pattern[i] * width + j]
        for i in range(stop - start):
            for j in range(out.shape[1]):
                out[start + i, j] += acc[j, i]
