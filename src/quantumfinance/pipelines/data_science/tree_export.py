"""The fitted challenger as arrays that the scoring runtime evaluates with numpy alone.

treelite imports the fitted HistGradientBoostingClassifier (``treelite.sklearn.import_model``)
and hands its trees back field by field through its public accessors. Not through
``dump_as_json``: it writes a +inf threshold (the split scikit-learn makes on missing values)
as nothing at all, which is not JSON.

Training only: scikit-learn and treelite are imported here, never by ``quantumfinance.scoring``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantumfinance.scoring.trees import ChallengerArrays, TreeEnsemble

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# treelite's enums (serialization spec v4): node_type and cmp.
LEAF, NUMERICAL, CATEGORICAL = 0, 1, 2
LESS_OR_EQUAL = 3


def tree_ensemble_of(challenger: Pipeline) -> ChallengerArrays:
    """The fitted challenger (OrdinalEncoder ColumnTransformer + gradient boosting) as arrays."""
    encode, boosting = challenger.named_steps["encode"], challenger.named_steps["boosting"]
    characteristics = tuple(encode.get_feature_names_out())
    categories = _categories(encode)
    known = [len(c) if c is not None else 0 for c in categories]
    ensemble = _ensemble(_treelite_model(boosting), known)
    return ChallengerArrays(ensemble, characteristics, categories)


def _categories(encode: Any) -> tuple[tuple[str, ...] | None, ...]:
    """Per output column: the encoder's categories in code order (its NaN category, which
    encodes as missing, left out), or None for a number passed through."""
    (_, encoder, categorical), *rest = encode.transformers_
    if len(rest) > 1 or encode.remainder != "passthrough":
        raise ValueError("expected the category codes, then the numbers passed through")
    known = [tuple(c for c in cats if not pd.isna(c)) for cats in encoder.categories_]
    if any(not isinstance(c, str) for cats in known for c in cats):
        raise ValueError("the runtime codes str categories only")
    n_numbers = len(encode.get_feature_names_out()) - len(categorical)
    return (*known, *[None] * n_numbers)


def _treelite_model(boosting: Any) -> Any:
    import treelite.sklearn  # noqa: PLC0415 - training only (module doc)

    # treelite casts the booster's own category list to int64, NaN (missing) included; that
    # entry is never looked up (missing values never reach a category list), so its cast
    # warning is noise.
    with np.errstate(invalid="ignore"):
        return treelite.sklearn.import_model(boosting)


def _ensemble(model: Any, known: list[int]) -> TreeEnsemble:
    """treelite's trees as one flat set of node arrays (category lists as a membership matrix)."""
    header = model.get_header_accessor()
    single_logit = (
        int(header.get_field("task_type")[0]) == 0  # kBinaryClf
        and int(header.get_field("num_target")[0]) == 1
        and header.get_field("num_class").tolist() == [1]
        and not header.get_field("average_tree_output")[0]
        and header.get_field("postprocessor") == "sigmoid"
        and float(header.get_field("sigmoid_alpha")[0]) == 1.0
    )
    if not single_logit:
        raise ValueError("expected a binary classifier: one logit summed over the trees")
    trees = [_tree(model.get_tree_accessor(i), known) for i in range(model.num_tree)]
    offsets = np.cumsum([0] + [len(t["feature"]) for t in trees[:-1]])
    nodes = {name: np.concatenate([t[name] for t in trees]) for name in trees[0]}
    for name in ("left", "right"):  # tree-local ids -> absolute ids
        nodes[name] = np.concatenate([t[name] + o for t, o in zip(trees, offsets, strict=True)])
    return TreeEnsemble(
        **nodes,
        roots=offsets,
        base_score=float(header.get_field("base_scores")[0]),
        max_depth=int(model.get_tree_depth().max()),
        n_features=model.num_feature,
    )


def _tree(tree: Any, known: list[int]) -> dict[str, np.ndarray]:
    """One tree's node arrays, ids local to the tree (leaves point to themselves)."""
    kind = tree.get_field("node_type")
    if not np.isin(kind, (LEAF, NUMERICAL, CATEGORICAL)).all():
        raise ValueError(f"unexpected treelite node types {sorted(set(kind.tolist()))}")
    leaf, category = kind == LEAF, kind == CATEGORICAL
    numeric = kind == NUMERICAL
    if np.any(tree.get_field("cmp")[numeric] != LESS_OR_EQUAL):
        raise ValueError("expected `value <= threshold` numeric splits (scikit-learn's)")
    if tree.get_field("leaf_vector").size:
        raise ValueError("expected one value per leaf")
    ids = np.arange(len(kind))
    feature = tree.get_field("split_index").astype(np.int32)
    default_left = tree.get_field("default_left").astype(bool)
    n_codes = max(known, default=0)
    category_left = np.zeros((len(kind), n_codes), dtype=bool)
    begin, end = tree.get_field("category_list_begin"), tree.get_field("category_list_end")
    listed, right_list = (
        tree.get_field("category_list"),
        tree.get_field("category_list_right_child"),
    )
    for node in np.flatnonzero(category):
        codes, n_known = listed[begin[node] : end[node]], known[feature[node]]
        if n_known == 0 or np.any(codes >= n_known):
            raise ValueError(f"a category split lists codes {codes} beyond {n_known} known")
        members = np.isin(np.arange(n_known), codes)
        category_left[node, :n_known] = ~members if right_list[node] else members
        # Codes this characteristic does not know are missing to scikit-learn.
        category_left[node, n_known:] = default_left[node]
    return {
        "feature": np.where(leaf, -1, feature),
        "threshold": np.where(numeric, tree.get_field("threshold"), 0.0),
        "left": np.where(leaf, ids, tree.get_field("cleft")),
        "right": np.where(leaf, ids, tree.get_field("cright")),
        "default_left": default_left & ~leaf,
        "is_leaf": leaf,
        "leaf_value": np.where(leaf, tree.get_field("leaf_value"), 0.0),
        "categorical": category,
        "category_left": category_left,
    }
