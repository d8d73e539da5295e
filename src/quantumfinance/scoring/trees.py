"""Gradient-boosted trees as flat arrays, every tree scored at once with numpy alone.

data_science builds them from the fitted challenger at training time
(``pipelines/data_science/tree_export.py``) and proves them equal to it; here they are only read.
A row walks all trees together: a rows x trees matrix of node ids is advanced ``max_depth`` times
(leaves point to themselves), then the leaf values are added to the base score tree by tree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ENSEMBLE_FORMAT = "tree_ensemble/1"
CHALLENGER_FORMAT = "challenger_arrays/1"
BLOCK_ROWS = 256  # rows walked together: (tree, row) buffers of ~300 kB each for 300 trees
NODE_FIELDS = ("feature", "threshold", "left", "right", "default_left", "is_leaf", "leaf_value")


def _frozen(values: Any, dtype: Any) -> np.ndarray:
    """A read-only copy: the ensemble is shared by every request and must never change."""
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


def _complex(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """real + 1j * imag, exactly (1j * inf would make the real part NaN)."""
    return np.stack([real, imag], axis=-1).view(np.complex128)[..., 0]


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """A binary classifier's trees as one set of node arrays (node ids are absolute).

    A split sends a value left when it is numeric and ``value <= threshold``, or categorical and
    a code ``c`` (an integer below n_codes) with ``category_left[node, c]``. NaN goes where
    ``default_left`` says, and so does a categorical value that is no such code. (scikit-learn
    treats an unknown category as missing: the builder gives the codes a characteristic does
    not have the missing value's way in ``category_left``.)
    """

    feature: np.ndarray  # int32: the split's matrix column (-1 at leaves)
    threshold: np.ndarray  # float64: numeric splits only (0 elsewhere; +inf = all numbers left)
    left: np.ndarray  # int32 node ids; a leaf's children are the leaf itself
    right: np.ndarray  # int32
    default_left: np.ndarray  # bool: where NaN and unknown category codes go
    is_leaf: np.ndarray  # bool
    leaf_value: np.ndarray  # float64 (0 at splits)
    categorical: np.ndarray  # bool: a category split (category_left) rather than a threshold
    category_left: np.ndarray  # bool nodes x codes: code c goes left (False off category splits)
    roots: np.ndarray  # int32: each tree's first node, in the order the trees are added
    base_score: float
    max_depth: int  # steps from a root to its deepest leaf, over all trees
    n_features: int  # matrix columns the trees read
    # Derived once at construction for raw_score (not part of the model's identity).
    _steps: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, dtype in (
            ("feature", np.int32),
            ("threshold", np.float64),
            ("left", np.int32),
            ("right", np.int32),
            ("default_left", np.bool_),
            ("is_leaf", np.bool_),
            ("leaf_value", np.float64),
            ("categorical", np.bool_),
            ("category_left", np.bool_),
            ("roots", np.int32),
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        object.__setattr__(self, "base_score", float(self.base_score))
        object.__setattr__(self, "max_depth", int(self.max_depth))
        object.__setattr__(self, "n_features", int(self.n_features))
        self._check()
        object.__setattr__(self, "_steps", self._step_arrays())

    def _check(self) -> None:
        """Refuse arrays that would index out of range, loop, or leave a row between nodes."""
        n = len(self.feature)
        if any(getattr(self, name).shape != (n,) for name in (*NODE_FIELDS, "categorical")):
            raise ValueError("every node array must have one entry per node")
        if self.category_left.ndim != 2 or len(self.category_left) != n:
            raise ValueError("category_left must be a nodes x codes matrix")
        if self.n_features < 1 or (self.categorical.any() and not self.category_left.shape[1]):
            raise ValueError("no columns to read, or category splits without codes")
        split, leaf = ~self.is_leaf, self.is_leaf
        nodes = np.arange(n)
        if np.any((self.left[leaf] != nodes[leaf]) | (self.right[leaf] != nodes[leaf])):
            raise ValueError("a leaf's children must be the leaf itself")
        children = np.concatenate([self.left[split], self.right[split]])
        if np.any((children < 0) | (children >= n)) or np.any((self.roots < 0) | (self.roots >= n)):
            raise ValueError("a child or root node id is out of range")
        if np.any((self.feature[split] < 0) | (self.feature[split] >= self.n_features)):
            raise ValueError("a split reads a column outside the matrix")
        if np.any(self.categorical & self.is_leaf) or self.category_left[~self.categorical].any():
            raise ValueError("only category splits have category membership")
        numeric = split & ~self.categorical
        if np.any(np.isnan(self.threshold) | (self.threshold == -np.inf)):
            raise ValueError("thresholds must be numbers or +inf")
        if not np.isfinite(self.leaf_value).all() or not math.isfinite(self.base_score):
            raise ValueError("leaf values and the base score must be finite")
        by_category = set(self.feature[self.categorical].tolist())
        if by_category & set(self.feature[numeric].tolist()):
            raise ValueError("a column is split both by category and by threshold")
        reached = np.unique(self.roots)
        for _ in range(self.max_depth):
            reached = np.unique(np.concatenate([self.left[reached], self.right[reached]]))
        if not self.is_leaf[reached].all():
            raise ValueError(f"some tree is deeper than max_depth={self.max_depth}")

    def _step_arrays(self) -> dict[str, np.ndarray]:
        """Lookup tables that make one step of every (row, tree) a few whole-array gathers.

        Each cell of a row gets a slot: for a numeric column the number of that column's split
        thresholds below the value (NaN: one past them all), for a category column its code (no
        known code: n_codes). Each node owns a run of the table, one entry per slot of its
        column, holding the child that slot goes to; leaves hold themselves.
        """
        n, n_codes = self.category_left.shape
        numeric = ~self.is_leaf & ~self.categorical
        category_columns = np.unique(self.feature[self.categorical])
        cuts = [
            np.unique(self.threshold[numeric & (self.feature == j)]) for j in range(self.n_features)
        ]
        width = np.array([len(c) + 2 for c in cuts])
        width[category_columns] = n_codes + 1
        feature = np.where(self.is_leaf, 0, self.feature)
        offset = np.concatenate([[0], np.cumsum(width[feature])])
        nodes = np.repeat(np.arange(n), width[feature])
        slot = np.arange(offset[-1]) - offset[nodes]
        to_left = np.zeros(offset[-1], dtype=np.bool_)
        for j in np.unique(feature[numeric]):  # once per column at load, never per call
            at = numeric[nodes] & (feature[nodes] == j)
            below = np.searchsorted(cuts[j], self.threshold[nodes[at]])  # the node's cut index
            nan_slot = len(cuts[j]) + 1
            to_left[at] = np.where(
                slot[at] == nan_slot, self.default_left[nodes[at]], slot[at] <= below
            )
        at = self.categorical[nodes]
        known = np.minimum(slot[at], max(n_codes - 1, 0))
        to_left[at] = np.where(
            slot[at] == n_codes,
            self.default_left[nodes[at]],
            self.category_left[nodes[at], known],
        )
        if offset[-1] >= 2**31:
            raise ValueError("too many nodes x slots for 32-bit lookups")
        child = np.where(to_left, self.left[nodes], self.right[nodes]).astype(np.int32)
        # A numeric query (column + 1j * value) finds its slot in one searchsorted over all
        # columns: complex numbers sort by real part first (the column), then by value.
        keys = np.concatenate([np.full(len(c), j, dtype=np.float64) for j, c in enumerate(cuts)])
        values = np.concatenate(cuts)
        steps = {
            "cut_keys": _complex(keys, values),
            "cut_start": np.searchsorted(keys, np.arange(self.n_features)).astype(np.int32),
            "nan_slot": width - 1,
            "category_columns": category_columns.astype(np.intp),
            "feature": feature.astype(np.int32),
            "offset": offset[:-1].astype(np.int32),
            "child": child,
            "child_value": self.leaf_value[child],
            "root_feature": feature[self.roots].astype(np.int32),
            "root_offset": offset[self.roots].astype(np.int32),
        }
        for array in steps.values():
            array.flags.writeable = False
        return steps

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds of each row of a rows x n_features float matrix: base score + leaf values."""
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a rows x {self.n_features} matrix, got shape {x.shape}")
        out = np.empty(len(x))
        # Blocks of rows, each walked in the same few buffers: (tree, row) arrays that stay in
        # cache, and memory the allocator does not hand back and fault in again per block.
        size = self.n_trees * min(len(x), BLOCK_ROWS)
        buffers = (*(np.empty(size, dtype=np.int32) for _ in range(3)), np.empty(size))
        for start in range(0, len(x), BLOCK_ROWS):
            block = slice(start, start + BLOCK_ROWS)
            self._raw_block(x[block], buffers, out[block])
        return out

    def _raw_block(self, x: np.ndarray, buffers: tuple[np.ndarray, ...], out: np.ndarray) -> None:
        """Walk one block of rows down every tree at once (indices in range by construction,
        so take(mode="clip") writes straight into the buffers, unchecked and unbuffered)."""
        s, shape = self._steps, (self.n_trees, len(x))
        at, node, cell, leaves = (b[: shape[0] * shape[1]].reshape(shape) for b in buffers)
        slots = self._slots(x).ravel()
        row_start = np.arange(0, slots.size, self.n_features, dtype=np.int32)
        np.add(s["root_feature"][:, None], row_start, out=cell)
        slots.take(cell, out=at, mode="clip")
        at += s["root_offset"][:, None]
        for _ in range(self.max_depth - 1):
            s["child"].take(at, out=node, mode="clip")
            s["feature"].take(node, out=cell, mode="clip")
            cell += row_start
            s["offset"].take(node, out=at, mode="clip")
            at += slots.take(cell, mode="clip")
        s["child_value"].take(at, out=leaves, mode="clip")
        # Trees x rows, so the sum runs down the trees one by one after the base score, as
        # scikit-learn adds them: the same floats.
        np.add.reduce(leaves, axis=0, initial=self.base_score, out=out)

    def _slots(self, x: np.ndarray) -> np.ndarray:
        """Each cell's slot in its column (see _step_arrays)."""
        s = self._steps
        missing = np.isnan(x)
        column = np.broadcast_to(np.arange(self.n_features, dtype=np.float64), x.shape)
        query = _complex(column, np.where(missing, 0.0, x))
        slots = (np.searchsorted(s["cut_keys"], query) - s["cut_start"]).astype(np.int32)
        slots[missing] = np.broadcast_to(s["nan_slot"], x.shape)[missing]
        columns = s["category_columns"]
        if columns.size:
            n_codes = self.category_left.shape[1]
            codes = x[:, columns]
            with np.errstate(invalid="ignore"):
                known = (codes >= 0) & (codes < n_codes) & (np.floor(codes) == codes)
            slots[:, columns] = np.where(known, codes, n_codes)
        return slots

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (no NaN or inf), the same on any machine for the same model."""
        n_codes = self.category_left.shape[1]
        return {
            "format": ENSEMBLE_FORMAT,
            "base_score": self.base_score,
            "max_depth": self.max_depth,
            "n_features": self.n_features,
            "n_codes": n_codes,
            "roots": self.roots.tolist(),
            "feature": self.feature.tolist(),
            # JSON has no infinity: null is +inf (a split that sends every number left).
            "threshold": [None if t == math.inf else t for t in self.threshold.tolist()],
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "default_left": self.default_left.tolist(),
            "is_leaf": self.is_leaf.tolist(),
            "leaf_value": self.leaf_value.tolist(),
            "categorical": self.categorical.tolist(),
            "category_left": [np.flatnonzero(row).tolist() for row in self.category_left],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeEnsemble:
        """The ensemble ``to_dict`` wrote, checked, with read-only arrays."""
        if data.get("format") != ENSEMBLE_FORMAT:
            raise ValueError(f"not a {ENSEMBLE_FORMAT} mapping: format={data.get('format')!r}")
        lists = data["category_left"]
        category_left = np.zeros((len(lists), int(data["n_codes"])), dtype=np.bool_)
        rows = np.repeat(np.arange(len(lists)), [len(codes) for codes in lists])
        category_left[rows, np.array([c for codes in lists for c in codes], dtype=np.intp)] = True
        return cls(
            **{name: data[name] for name in NODE_FIELDS if name != "threshold"},
            threshold=[math.inf if t is None else t for t in data["threshold"]],
            categorical=data["categorical"],
            category_left=category_left,
            roots=data["roots"],
            base_score=data["base_score"],
            max_depth=data["max_depth"],
            n_features=data["n_features"],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeEnsemble) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable-looking arrays

    def __deepcopy__(self, memo: dict[int, Any]) -> TreeEnsemble:
        # Immutable: kedro-mlflow deep-copies the model artifact on every predict.
        return self

    def __copy__(self) -> TreeEnsemble:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its canonical form: the same bytes for the same model, checked on load.
        return (type(self).from_dict, (self.to_dict(),))


@dataclass(frozen=True, eq=False)
class ChallengerArrays:
    """The challenger's trees plus its input layout: which characteristic each column holds and,
    for a categorical one, its known categories in code order (anything else is NaN: missing)."""

    ensemble: TreeEnsemble
    characteristics: tuple[str, ...]  # matrix column j holds this characteristic
    categories: tuple[tuple[str, ...] | None, ...]  # per column; None for a numeric one
    _lookups: dict[int, tuple[dict[str, float], np.ndarray, np.ndarray]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "characteristics", tuple(map(str, self.characteristics)))
        categories = tuple(None if c is None else tuple(c) for c in self.categories)
        object.__setattr__(self, "categories", categories)
        if not len(self.characteristics) == len(categories) == self.ensemble.n_features:
            raise ValueError("one characteristic and one category list per matrix column")
        if len(set(self.characteristics)) != len(self.characteristics):
            raise ValueError("a characteristic appears in two matrix columns")
        lookups = {}
        for j, known in enumerate(categories):
            if known is None:
                continue
            if not all(isinstance(c, str) for c in known) or len(set(known)) != len(known):
                raise ValueError(f"{self.characteristics[j]}: categories must be distinct str")
            # A dict for object arrays (one hash per row beats object comparisons), and a
            # sorted copy for str arrays, coded without a Python step per row.
            order = np.argsort(np.array(known, dtype=str), kind="stable")
            lookups[j] = (
                {c: float(code) for code, c in enumerate(known)},
                np.array(known, dtype=str)[order],
                order.astype(np.float64),
            )
        numeric = {j for j, known in enumerate(categories) if known is None}
        if numeric & set(self.ensemble.feature[self.ensemble.categorical].tolist()):
            raise ValueError("a category split reads a numeric column")
        object.__setattr__(self, "_lookups", lookups)

    def matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The float matrix raw_score reads: category codes (NaN: missing or unknown), numbers."""
        missing = [name for name in self.characteristics if name not in columns]
        if missing:
            raise ValueError(f"missing characteristic column(s): {missing}")
        rows = len(columns[self.characteristics[0]])
        out = np.empty((rows, len(self.characteristics)), dtype=np.float64)
        for j, name in enumerate(self.characteristics):
            if j in self._lookups:
                out[:, j] = self._codes(j, columns[name])
            else:
                out[:, j] = np.asarray(columns[name], dtype=np.float64)
        return out

    def _codes(self, j: int, values: Any) -> np.ndarray:
        """Category codes of one column: the index in the known categories, else NaN."""
        codes, known_sorted, order = self._lookups[j]
        values = np.asarray(values)
        if values.dtype.kind == "U" and known_sorted.size:
            at = np.searchsorted(known_sorted, values).clip(max=known_sorted.size - 1)
            return np.where(known_sorted[at] == values, order[at], np.nan)
        if values.dtype.kind == "O":
            get = codes.get
            return np.fromiter((get(v, math.nan) for v in values), np.float64, len(values))
        # Numbers (or no known category): nothing matches a category, so all missing.
        return np.full(len(values), np.nan)

    def raw_score(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-odds of default of applicants given as column arrays."""
        return self.ensemble.raw_score(self.matrix(columns))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, the same on any machine for the same model."""
        return {
            "format": CHALLENGER_FORMAT,
            "ensemble": self.ensemble.to_dict(),
            "characteristics": list(self.characteristics),
            "categories": [None if c is None else list(c) for c in self.categories],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChallengerArrays:
        """The arrays ``to_dict`` wrote, checked, with read-only arrays."""
        if data.get("format") != CHALLENGER_FORMAT:
            raise ValueError(f"not a {CHALLENGER_FORMAT} mapping: format={data.get('format')!r}")
        return cls(
            ensemble=TreeEnsemble.from_dict(data["ensemble"]),
            characteristics=tuple(data["characteristics"]),
            categories=tuple(data["categories"]),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChallengerArrays) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> ChallengerArrays:
        return self  # immutable (see TreeEnsemble.__deepcopy__)

    def __copy__(self) -> ChallengerArrays:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).from_dict, (self.to_dict(),))
