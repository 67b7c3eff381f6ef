"""Patient-level, centre-aware splits for training and validation (habit 14: the patient is the
unit; every slide, scan and sample of a patient follows it).

:func:`make_splits` returns one tidy frame with a row per (split, patient):

=============  =============================================================================
split_id       e.g. ``"external-WX"``, ``"cv-WX-2"``, ``"temporal"``
outer_fold     0..n_outer-1 for ``nested_cv``; 0 for the single-split schemes
role           ``"train"`` (fit), ``"val"`` (early stopping / tuning share of the training
               patients) or ``"test"`` (never seen in fitting)
patient_id     as in the input
cohort_label   test rows: ``"external NJ"``, ``"temporal prospective"``, ``"internal CV (WX)"``;
               train / val rows: ``"development WX"``
inner_fold     -1 on test rows (and everywhere when ``inner_folds=0``); else 0..inner_folds-1 on
               the train and val rows, so a tuner can cross-validate inside the training set
               without touching the test patients
=============  =============================================================================

Schemes:

- ``"external"`` — each centre in turn (or only ``development``) is the development centre:
  train / val = its retrospective patients; test = every other centre's retrospective patients
  (``"external <centre>"``) and all prospective patients (``"temporal prospective"``).
- ``"nested_cv"`` — the development centre's retrospective patients (all centres' when
  ``development`` is None) in ``n_outer`` folds; each fold in turn is the test set
  (``"internal CV (<centres>)"``); the rest is split into train / val (and inner folds).
- ``"temporal"`` — train / val = retrospective patients (of ``development`` or all centres);
  test = prospective patients of all centres (``"temporal prospective"``).

Folds, the validation share and inner folds are stratified by ``os_event`` (by centre ×
``os_event`` when the pool spans more than one centre): patients are shuffled within strata
(seeded), the strata laid end to end, and folds dealt round-robin along that order. Each fold
thus gets its proportional share of every stratum (± 1 patient), and a stratum smaller than
the number of folds simply spreads over consecutive folds instead of failing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

__all__ = ["SCHEMES", "ROLES", "SPLIT_COLUMNS", "make_splits", "check_splits", "split_frame"]

SCHEMES = ("external", "nested_cv", "temporal")
ROLES = ("train", "val", "test")
SPLIT_COLUMNS = ("split_id", "outer_fold", "role", "patient_id", "cohort_label", "inner_fold")
_PATIENT_COLUMNS = ("patient_id", "center", "cohort", "os_event")
_COHORTS = ("retrospective", "prospective")


def make_splits(patients: pd.DataFrame, *, scheme: str, development: str | None = None,
                n_outer: int = 5, val_fraction: float = 0.2, inner_folds: int = 0,
                seed: int = 0) -> pd.DataFrame:
    """Patient-level train / val / test splits under one validation scheme.

    Parameters
    ----------
    patients : DataFrame
        One row per patient with ``patient_id`` (a column or the index), ``center``,
        ``cohort`` ("retrospective" / "prospective") and ``os_event`` (bool or 0/1).
    scheme : {"external", "nested_cv", "temporal"}
    development : str, optional
        The development centre; None = every centre in turn (external) or all centres pooled
        (nested_cv, temporal).
    n_outer : int
        Outer folds of ``nested_cv`` (>= 2).
    val_fraction : float
        Share of each training set held out as ``val``, in [0, 1).
    inner_folds : int
        0 (none) or >= 2 inner folds over each training set (train + val rows).
    seed : int
        Same seed, same splits; each split draws from its own stream derived from
        (seed, split_id).

    Returns
    -------
    DataFrame
        Columns ``SPLIT_COLUMNS`` (see the module docstring), checked by
        :func:`check_splits`.
    """
    table = _check_patients(patients)
    if scheme not in SCHEMES:
        raise unknown_option("split scheme", str(scheme), SCHEMES)
    _check_int(n_outer, "n_outer", 2)
    _check_int(seed, "seed", None)
    _check_int(inner_folds, "inner_folds", 0)
    if inner_folds == 1:
        raise UsageError("The 'inner_folds' parameter of make_splits must be 0 (none) or >= 2. "
                         "Got 1 instead.")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) \
            or not 0 <= val_fraction < 1:
        raise UsageError(f"The 'val_fraction' parameter of make_splits must be a float in "
                         f"[0, 1). Got {val_fraction!r} instead.")
    centres = sorted(table["center"].unique())
    if development is not None and development not in centres:
        raise unknown_option("development centre", str(development), centres)
    retro = table[table["cohort"] == "retrospective"]
    prosp = table[table["cohort"] == "prospective"]
    options = {"val_fraction": float(val_fraction), "inner_folds": inner_folds, "seed": seed}

    parts: list[pd.DataFrame] = []
    if scheme == "external":
        if len(centres) < 2:
            raise DataError(f"make_splits(scheme='external') needs at least two centres; the "
                            f"patients come from {centres}. Use scheme='nested_cv' or "
                            f"'temporal'.")
        for dev in [development] if development is not None else centres:
            pool = retro[retro["center"] == dev]
            tests = [(retro[retro["center"] == other], f"external {other}")
                     for other in centres if other != dev]
            if len(prosp):
                tests.append((prosp, "temporal prospective"))
            parts.append(_one_split(f"external-{dev}", 0, pool, tests, f"development {dev}",
                                    **options))
    elif scheme == "temporal":
        pool = retro if development is None else retro[retro["center"] == development]
        if not len(prosp):
            raise DataError("make_splits(scheme='temporal') needs prospective patients for the "
                            "test set; there are none (cohort == 'prospective').")
        name = "temporal" if development is None else f"temporal-{development}"
        label = "development " + ("+".join(centres) if development is None else development)
        parts.append(_one_split(name, 0, pool, [(prosp, "temporal prospective")], label,
                                **options))
    else:
        pool = retro if development is None else retro[retro["center"] == development]
        tag = "+".join(sorted(pool["center"].unique())) if development is None else development
        if len(pool) < n_outer:
            raise DataError(f"make_splits(scheme='nested_cv') needs at least n_outer={n_outer} "
                            f"retrospective patients of {tag}; got {len(pool)}. Lower 'n_outer'.")
        folds = _deal(pool, n_outer, _rng(seed, f"cv-{tag}"))
        for k in range(n_outer):
            parts.append(_one_split(f"cv-{tag}-{k}", k, pool[folds != k],
                                    [(pool[folds == k], f"internal CV ({tag})")],
                                    f"development {tag}", **options))
    splits = pd.concat(parts, ignore_index=True)
    check_splits(splits)
    return splits


def _one_split(split_id: str, outer_fold: int, pool: pd.DataFrame,
               tests: Sequence[tuple[pd.DataFrame, str]], train_label: str, *,
               val_fraction: float, inner_folds: int, seed: int) -> pd.DataFrame:
    if len(pool) == 0:
        raise DataError(f"split {split_id}: no training patients (retrospective patients of the "
                        f"development centre); check 'center' / 'cohort'.")
    rng = _rng(seed, split_id)
    is_val = _hold_out(pool, val_fraction, rng)
    inner = np.full(len(pool), -1)
    if inner_folds:
        if len(pool) < inner_folds:
            raise DataError(f"split {split_id}: {len(pool)} training patients cannot make "
                            f"inner_folds={inner_folds}; lower 'inner_folds'.")
        inner = _deal(pool, inner_folds, rng)
    frames = [pd.DataFrame({"role": np.where(is_val, "val", "train"),
                            "patient_id": pool["patient_id"].to_numpy(),
                            "cohort_label": train_label, "inner_fold": inner})]
    for test, label in tests:
        frames.append(pd.DataFrame({"role": "test", "patient_id": test["patient_id"].to_numpy(),
                                    "cohort_label": label, "inner_fold": -1}))
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    out.insert(0, "outer_fold", outer_fold)
    out.insert(0, "split_id", split_id)
    out["outer_fold"] = out["outer_fold"].astype(np.int64)
    out["inner_fold"] = out["inner_fold"].astype(np.int64)
    order = out["role"].map({r: i for i, r in enumerate(ROLES)})
    out = out.assign(_order=order).sort_values(["_order", "cohort_label", "patient_id"],
                                               kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)[list(SPLIT_COLUMNS)]


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode())])


def _strata_order(pool: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Row positions shuffled within strata (os_event, and centre when > 1), strata end to end."""
    keys = pool["os_event"].astype(int).astype(str)
    if pool["center"].nunique() > 1:
        keys = pool["center"].astype(str) + "|" + keys
    keys = keys.to_numpy()
    order = []
    for key in sorted(set(keys)):
        members = np.flatnonzero(keys == key)
        order.append(members[rng.permutation(len(members))])
    return np.concatenate(order)


def _deal(pool: pd.DataFrame, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold 0..k-1 per row: dealt round-robin along the stratified order, from a random start."""
    order = _strata_order(pool, rng)
    start = int(rng.integers(k))
    folds = np.empty(len(pool), dtype=np.int64)
    folds[order] = (np.arange(len(order)) + start) % k
    return folds


def _hold_out(pool: pd.DataFrame, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A stratified share ``fraction`` of the rows (systematic sampling along the stratified
    order, random phase); at least one row when ``fraction > 0`` and two rows exist, never
    all rows."""
    n = len(pool)
    held = np.zeros(n, dtype=bool)
    if fraction == 0 or n < 2:
        return held
    order = _strata_order(pool, rng)
    phase = rng.uniform()
    counts = np.floor(np.arange(n + 1) * fraction + phase)
    picked = np.diff(counts) > 0
    if not picked.any():
        picked[int(rng.integers(n))] = True
    if picked.all():
        picked[int(rng.integers(n))] = False
    held[order[picked]] = True
    return held


def _check_int(value: object, name: str, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) \
            or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise UsageError(f"The '{name}' parameter of make_splits must be an int{bound}. "
                         f"Got {value!r} instead.")


def _check_patients(patients: object) -> pd.DataFrame:
    if not isinstance(patients, pd.DataFrame):
        raise UsageError(f"The 'patients' parameter of make_splits must be a pandas DataFrame "
                         f"with columns {list(_PATIENT_COLUMNS)}. "
                         f"Got {type(patients).__name__} instead.")
    table = patients
    if "patient_id" not in table.columns and table.index.name == "patient_id":
        table = table.reset_index()
    lacking = [c for c in _PATIENT_COLUMNS if c not in table.columns]
    if lacking:
        raise DataError(f"make_splits: the patients frame lacks column(s) {lacking}; it needs "
                        f"{list(_PATIENT_COLUMNS)} (patient_id may be the index).")
    table = table[list(_PATIENT_COLUMNS)].copy()
    if len(table) == 0:
        raise DataError("make_splits: the patients frame has no rows.")
    for col in ("patient_id", "center", "cohort"):
        empty = table[col].isna()
        if empty.any():
            who = list(table.loc[empty, "patient_id"].iloc[:5]) if col != "patient_id" \
                else f"rows {list(np.flatnonzero(empty.to_numpy())[:5])}"
            raise DataError(f"make_splits: '{col}' is missing for patient(s) {who}; every "
                            f"patient needs a patient_id, center and cohort.")
    dupes = table["patient_id"][table["patient_id"].duplicated()].unique().tolist()
    if dupes:
        raise DataError(f"make_splits: patient_id(s) {sorted(dupes, key=str)[:10]} appear more "
                        f"than once; the patients frame needs one row per patient.")
    bad = ~table["cohort"].isin(_COHORTS)
    if bad.any():
        rows = table[bad].iloc[:5]
        raise DataError(f"make_splits: 'cohort' must be one of {list(_COHORTS)}; patient(s) "
                        f"{list(rows['patient_id'])} hold {list(rows['cohort'])}.")
    event = table["os_event"]
    ok = event.map(lambda v: isinstance(v, bool | np.bool_)
                   or (not pd.isna(v) and v in (0, 1)))
    if not ok.all():
        rows = table[~ok.to_numpy()].iloc[:5]
        raise DataError(f"make_splits: 'os_event' must be boolean (True = death) or 0/1; "
                        f"patient(s) {list(rows['patient_id'])} hold {list(rows['os_event'])} "
                        f"(R's 1/2 status coding must be converted: event = status == 2).")
    table["os_event"] = event.astype(bool)
    table["center"] = table["center"].astype(str)
    # a canonical order, so the splits depend on the seed and not on the input's row order
    order = sorted(range(len(table)), key=lambda i: str(table["patient_id"].iat[i]))
    return table.iloc[order].reset_index(drop=True)


def check_splits(splits: pd.DataFrame) -> None:
    """Raise :class:`DataError` unless every patient has exactly one row (one role) per split,
    roles are train / val / test, and test rows carry ``inner_fold == -1``."""
    if not isinstance(splits, pd.DataFrame):
        raise UsageError(f"The 'splits' parameter of check_splits must be the DataFrame from "
                         f"make_splits. Got {type(splits).__name__} instead.")
    lacking = [c for c in SPLIT_COLUMNS if c not in splits.columns]
    if lacking:
        raise DataError(f"check_splits: the splits frame lacks column(s) {lacking}; expected "
                        f"{list(SPLIT_COLUMNS)}.")
    bad_role = ~splits["role"].isin(ROLES)
    if bad_role.any():
        raise DataError(f"check_splits: role must be one of {list(ROLES)}; got "
                        f"{sorted(set(splits.loc[bad_role, 'role'].astype(str)))}.")
    dup = splits.duplicated(["split_id", "patient_id"], keep=False)
    if dup.any():
        rows = splits[dup].sort_values(["split_id", "patient_id"], kind="stable")
        first = rows.iloc[0]
        roles = rows[(rows["split_id"] == first["split_id"])
                     & (rows["patient_id"] == first["patient_id"])]["role"].tolist()
        n = rows[["split_id", "patient_id"]].drop_duplicates().shape[0]
        raise DataError(f"check_splits: patient {first['patient_id']!r} appears {len(roles)} "
                        f"times in split {first['split_id']!r} (roles {roles}); {n} patient(s) "
                        f"in all are duplicated. A patient must have exactly one role per split "
                        f"(a test patient may never be trained on).")
    leaked = (splits["role"] == "test") & (splits["inner_fold"] != -1)
    if leaked.any():
        row = splits[leaked].iloc[0]
        raise DataError(f"check_splits: test patient {row['patient_id']!r} of split "
                        f"{row['split_id']!r} has inner_fold {row['inner_fold']}; test patients "
                        f"must have inner_fold -1 (never used in tuning).")


def split_frame(splits: pd.DataFrame, split_id: str, role: str) -> list:
    """The patient ids of one role in one split, in the frame's order.

    Parameters
    ----------
    splits : DataFrame from :func:`make_splits`
    split_id : str
    role : {"train", "val", "test"}
    """
    if role not in ROLES:
        raise unknown_option("role", str(role), ROLES)
    ids = list(dict.fromkeys(splits["split_id"]))
    if split_id not in ids:
        raise unknown_option("split_id", str(split_id), ids)
    rows = splits[(splits["split_id"] == split_id) & (splits["role"] == role)]
    return rows["patient_id"].tolist()
