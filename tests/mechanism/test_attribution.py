"""Attribution: exact modality Shapley values, ablation, clinical SHAP and attention tables,
checked against known answers (closed forms and a brute-force permutation average)."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.mechanism.attribution import (attention_table, clinical_shap,
                                             cohort_modality_importance, cohort_shap_importance,
                                             lesion_attention_table, modality_ablation,
                                             modality_shapley)

MODS = ["clinical", "radiomics", "pathology", "omics"]


def _available(rows: dict[str, list[bool]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=MODS).rename_axis("patient_id")


def _random_game(n: int, seed: int = 0):
    """A game with interactions: a fixed random worth per (patient, coalition)."""
    rng = np.random.default_rng(seed)
    table = {frozenset(c): rng.normal(size=n) for k in range(1, len(MODS) + 1)
             for c in itertools.combinations(MODS, k)}
    calls: list[frozenset[str]] = []

    def value_fn(coalition: frozenset[str]) -> np.ndarray:
        calls.append(coalition)
        return table[coalition]

    return value_fn, table, calls


def _brute_force(worth: dict, players: list[str], ref: float, i: int) -> dict[str, float]:
    """Average marginal contribution over all orderings (the definition, Shapley 1953)."""
    phi = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        prev, have = ref, []
        for m in order:
            have.append(m)
            cur = worth[frozenset(have)][i]
            phi[m] += cur - prev
            prev = cur
    return {m: v / math.factorial(len(players)) for m, v in phi.items()}


AVAIL = _available({"P1": [True, True, True, True], "P2": [True, True, False, True],
                    "P3": [True, False, False, False], "P4": [True, True, True, False],
                    "P5": [True, True, True, True]})


def test_modality_shapley_matches_permutation_definition_and_is_efficient() -> None:
    value_fn, worth, calls = _random_game(len(AVAIL))
    ref = np.array([0.1, -0.3, 0.0, 0.5, 0.2])
    table = modality_shapley(value_fn, modalities=MODS, available=AVAIL, reference=ref)
    assert list(table.columns) == ["patient_id", "modality", "shapley"]
    assert len(table) == 5 * 4
    phi = table.pivot(index="patient_id", columns="modality", values="shapley")
    for i, pid in enumerate(AVAIL.index):
        players = [m for m in MODS if AVAIL.loc[pid, m]]
        expected = _brute_force(worth, players, ref[i], i)
        for m in MODS:
            assert phi.loc[pid, m] == pytest.approx(expected.get(m, 0.0), abs=1e-12)
        full = worth[frozenset(players)][i]
        assert phi.loc[pid].sum() == pytest.approx(full - ref[i], abs=1e-12)   # efficiency
    assert len(calls) == len(set(calls)) <= 2 ** len(MODS) - 1    # each coalition once


def test_unavailable_modality_gets_zero_and_others_share_the_effect() -> None:
    # additive game: the risk is the sum of fixed contributions of the coalition
    contrib = {"clinical": 1.0, "radiomics": 2.0, "pathology": 4.0, "omics": 8.0}

    def value_fn(coalition: frozenset[str]) -> np.ndarray:
        return np.full(len(AVAIL), sum(contrib[m] for m in coalition))

    table = modality_shapley(value_fn, modalities=MODS, available=AVAIL, reference=0.0)
    phi = table.set_index(["patient_id", "modality"])["shapley"]
    assert phi["P2", "pathology"] == 0.0
    assert phi["P3", "radiomics"] == phi["P3", "omics"] == 0.0
    assert phi["P3", "clinical"] == pytest.approx(1.0)   # additive game: φ_m = contribution
    assert phi["P1", "omics"] == pytest.approx(8.0)
    assert phi["P2", "omics"] == pytest.approx(8.0)


def test_symmetry_dummy_and_pure_interaction() -> None:
    avail = AVAIL.loc[["P1", "P5"]]

    def value_fn(coalition: frozenset[str]) -> np.ndarray:
        # clinical and radiomics are interchangeable and interact; omics is a dummy
        both = {"clinical", "radiomics"} <= coalition
        one = len({"clinical", "radiomics"} & coalition)
        return np.array([3.0 * both + one, 5.0 * both]) + 0.7 * ("pathology" in coalition)

    table = modality_shapley(value_fn, modalities=MODS, available=avail, reference=0.0)
    phi = table.set_index(["patient_id", "modality"])["shapley"]
    for pid in ("P1", "P5"):
        assert phi[pid, "clinical"] == pytest.approx(phi[pid, "radiomics"], abs=1e-12)
        assert phi[pid, "omics"] == pytest.approx(0.0, abs=1e-12)
        assert phi[pid, "pathology"] == pytest.approx(0.7)
    assert phi["P1", "clinical"] == pytest.approx(1.5 + 1.0)
    assert phi["P5", "clinical"] == pytest.approx(2.5)           # pure interaction split 50/50


def test_reference_series_is_aligned_by_patient_id() -> None:
    value_fn, worth, _ = _random_game(len(AVAIL), seed=3)
    ref = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=AVAIL.index)[::-1]   # shuffled order
    table = modality_shapley(value_fn, modalities=MODS, available=AVAIL, reference=ref)
    totals = table.groupby("patient_id", sort=False)["shapley"].sum()
    full = worth[frozenset(MODS)][0]
    assert totals["P1"] == pytest.approx(full - 1.0, abs=1e-12)


def test_modality_shapley_errors() -> None:
    value_fn, _, _ = _random_game(len(AVAIL))
    none = AVAIL.copy()
    none.loc["P3"] = False
    with pytest.raises(DataError, match="P3"):
        modality_shapley(value_fn, modalities=MODS, available=none, reference=0.0)
    with pytest.raises(UsageError, match="missing"):
        modality_shapley(value_fn, modalities=MODS, available=AVAIL[MODS[:2]], reference=0.0)
    with pytest.raises(UsageError, match="shape"):
        modality_shapley(lambda c: np.zeros(2), modalities=MODS, available=AVAIL, reference=0.0)
    with pytest.raises(UsageError, match="reference"):
        modality_shapley(value_fn, modalities=MODS, available=AVAIL, reference=[0.0, 1.0])

    def nan_fn(coalition: frozenset[str]) -> np.ndarray:
        out = np.zeros(len(AVAIL))
        out[3] = np.nan
        return out

    with pytest.raises(DataError, match="P4"):
        modality_shapley(nan_fn, modalities=MODS, available=AVAIL, reference=0.0)
    with pytest.raises(UsageError, match="distinct"):
        modality_shapley(value_fn, modalities=["clinical", "clinical"], available=AVAIL,
                         reference=0.0)


def test_cohort_modality_importance() -> None:
    table = pd.DataFrame({"patient_id": ["a", "a", "b", "b"],
                          "modality": ["clinical", "omics"] * 2,
                          "shapley": [1.0, -3.0, -1.0, 0.0]})
    out = cohort_modality_importance(table)
    assert list(out["modality"]) == ["omics", "clinical"]
    assert list(out["mean_abs_shapley"]) == [1.5, 1.0]
    assert list(out["mean_shapley"]) == [-1.5, 0.0]
    assert list(out["share"]) == pytest.approx([0.6, 0.4])
    per_model = cohort_modality_importance(pd.concat([table.assign(model="m1"),
                                                      table.assign(model="m2")]))
    assert len(per_model) == 4 and per_model.groupby("model")["share"].sum().eq(1).all()


def test_modality_ablation() -> None:
    weight = {"clinical": 0.1, "radiomics": 0.05, "pathology": 0.02}
    calls: list[frozenset[str]] = []

    def metric_fn(coalition: frozenset[str]) -> float:
        calls.append(coalition)
        return 0.5 + sum(weight[m] for m in coalition)

    out = modality_ablation(metric_fn, modalities=list(weight))
    assert list(out.columns) == ["setting", "modality", "coalition", "estimate", "delta"]
    assert list(out["setting"]) == ["all"] + ["without"] * 3 + ["only"] * 3
    row = out[(out["setting"] == "without") & (out["modality"] == "clinical")].iloc[0]
    assert row["coalition"] == "radiomics+pathology"
    assert row["delta"] == pytest.approx(-0.1)
    only = out[out["setting"] == "only"].set_index("modality")["estimate"]
    assert only["pathology"] == pytest.approx(0.52)
    assert len(calls) == len(set(calls)) == 7
    two = modality_ablation(metric_fn, modalities=["clinical", "radiomics"])
    assert len(two) == 5 and len(set(calls)) == 7   # "without a" == "only b": cached
    with pytest.raises(UsageError, match="number"):
        modality_ablation(lambda c: "high", modalities=["clinical"])


# ----------------------------------------------------------------------------------- SHAP

def _linear_setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    names = ["age_years", "afp_ng_ml", "afp_ng_ml__missing", "etiology=HBV", "etiology=HCV",
             "albi"]
    w = np.array([0.5, -1.2, 0.3, 2.0, -0.7, 1.1])
    X = rng.normal(size=(12, 6))
    bg = rng.normal(size=(20, 6)) + 0.5
    return names, w, X, bg


def test_clinical_shap_linear_known_answer() -> None:
    names, w, X, bg = _linear_setup()
    ids = [f"P{i}" for i in range(len(X))]
    out = clinical_shap(lambda z: z @ w + 3.0, X=X, background=bg, feature_names=names,
                        patient_ids=ids, seed=1)
    assert list(out.columns) == ["patient_id", "variable", "shap", "value"]
    got = out.pivot(index="patient_id", columns="variable", values="shap").loc[ids, names]
    expected = w * (X - bg.mean(axis=0))
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-10)
    values = out.pivot(index="patient_id", columns="variable", values="value").loc[ids, names]
    np.testing.assert_allclose(values.to_numpy(dtype=float), X)


def test_clinical_shap_groups_sum_and_raw_values() -> None:
    names, w, X, bg = _linear_setup()
    Xf = pd.DataFrame(X, columns=names, index=pd.Index([f"P{i}" for i in range(12)],
                                                       name="patient_id"))
    groups = {"afp_ng_ml__missing": "afp_ng_ml", "etiology=HBV": "etiology",
              "etiology=HCV": "etiology"}
    raw = pd.DataFrame({"etiology": ["HBV", "HCV", None] * 4}, index=Xf.index)
    out = clinical_shap(lambda z: z @ w, X=Xf, background=bg, groups=groups, values=raw, seed=1)
    assert list(out["variable"].unique()) == ["age_years", "afp_ng_ml", "etiology", "albi"]
    per_col = w * (X - bg.mean(axis=0))
    got = out.set_index(["patient_id", "variable"])["shap"]
    np.testing.assert_allclose(got.xs("etiology", level="variable"), per_col[:, 3] + per_col[:, 4],
                               atol=1e-10)
    np.testing.assert_allclose(got.xs("afp_ng_ml", level="variable"), per_col[:, 1] + per_col[:, 2],
                               atol=1e-10)
    vals = out.set_index(["patient_id", "variable"])["value"]
    assert vals["P1", "etiology"] == "HCV" and vals["P2", "etiology"] is None
    assert vals["P1", "age_years"] == str(X[1, 0])   # mixed column → text, for Parquet
    with pytest.raises(UsageError, match="did you mean 'etiology=HBV'"):
        clinical_shap(lambda z: z @ w, X=Xf, background=bg, groups={"etiology=HBX": "e"})


def test_clinical_shap_nonlinear_additive_and_deterministic() -> None:
    names, _, X, bg = _linear_setup(2)

    def f(z: np.ndarray) -> np.ndarray:
        return np.tanh(z[:, 0] * z[:, 3]) + z[:, 1] ** 2 - z[:, 5]

    ids = list(range(len(X)))
    state = np.random.get_state()[1].copy()
    a = clinical_shap(f, X=X, background=bg, feature_names=names, patient_ids=ids, seed=7)
    assert np.array_equal(np.random.get_state()[1], state)   # global RNG left alone
    b = clinical_shap(f, X=X, background=bg, feature_names=names, patient_ids=ids, seed=7)
    pd.testing.assert_frame_equal(a, b)
    totals = a.groupby("patient_id")["shap"].sum().to_numpy()
    np.testing.assert_allclose(totals, f(X) - f(bg).mean(), atol=1e-10)   # additivity


def test_clinical_shap_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    names, w, X, bg = _linear_setup()
    with pytest.raises(UsageError, match="feature_names"):
        clinical_shap(lambda z: z @ w, X=X, background=bg, feature_names=names[:5],
                      patient_ids=range(12))
    with pytest.raises(UsageError, match="patient_ids"):
        clinical_shap(lambda z: z @ w, X=X, background=bg, feature_names=names)
    with pytest.raises(UsageError, match="n_samples"):
        clinical_shap(lambda z: z @ w, X=X, background=bg, feature_names=names,
                      patient_ids=range(12), n_samples=5)
    with pytest.raises(UsageError, match="background"):
        clinical_shap(lambda z: z @ w, X=X, background=bg[:, :3], feature_names=names,
                      patient_ids=range(12))
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(UsageError, match=r"pip install 'hccfusion\[models\]'"):
        clinical_shap(lambda z: z @ w, X=X, background=bg, feature_names=names,
                      patient_ids=range(12))


def test_cohort_shap_importance() -> None:
    table = pd.DataFrame({"patient_id": [1, 1, 2, 2], "variable": ["age", "afp"] * 2,
                          "shap": [0.1, -2.0, 0.3, 1.0], "value": np.nan})
    out = cohort_shap_importance(table)
    assert list(out["variable"]) == ["afp", "age"]
    assert out["mean_abs_shap"].tolist() == pytest.approx([1.5, 0.2])
    assert out["mean_shap"].tolist() == pytest.approx([-0.5, 0.2])


# ------------------------------------------------------------------------------- attention

def test_attention_table_ranks_and_keeps_instances_together() -> None:
    att = np.array([0.1, 0.5, 0.05, 0.3, 0.05])
    index = np.array([0, 0, 1, 1, 1])
    xy = np.array([[0, 0], [256, 0], [0, 512], [512, 512], [768, 0]])
    out = attention_table(patient_id="P1", attention=att, slide_ids=("S1", "S2"),
                          slide_index=index, coords=xy)
    assert list(out.columns) == ["patient_id", "instance", "slide_id", "x", "y", "attention",
                                 "rank"]
    top = out.iloc[0]
    assert (top["slide_id"], top["x"], top["y"], top["rank"]) == ("S1", 256, 0, 1)
    assert list(out["instance"]) == [1, 3, 0, 2, 4]            # ties keep instance order
    perm = np.array([4, 2, 0, 3, 1])
    shuffled = attention_table(patient_id="P1", attention=att[perm], slide_ids=("S1", "S2"),
                               slide_index=index[perm], coords=xy[perm])
    cols = ["slide_id", "x", "y", "attention"]
    key = ["attention", "x", "y"]
    pd.testing.assert_frame_equal(out[cols].sort_values(key).reset_index(drop=True),
                                  shuffled[cols].sort_values(key).reset_index(drop=True))
    assert shuffled.iloc[0][["slide_id", "x", "y"]].tolist() == ["S1", 256, 0]
    top2 = attention_table(patient_id="P1", attention=att, slide_ids=("S1", "S2"),
                           slide_index=index, coords=xy, top_k=2)
    assert list(top2["rank"]) == [1, 2] and list(top2["x"]) == [256, 512]


def test_attention_table_errors() -> None:
    att = np.array([0.2, 0.8])
    with pytest.raises(DataError, match="P9"):
        attention_table(patient_id="P9", attention=att, slide_ids=["S1"],
                        slide_index=np.array([0, 1]), coords=np.zeros((2, 2)))
    with pytest.raises(UsageError, match="coords"):
        attention_table(patient_id="P9", attention=att, slide_ids=["S1"],
                        slide_index=np.array([0, 0]), coords=np.zeros((3, 2)))
    with pytest.raises(UsageError, match="top_k"):
        attention_table(patient_id="P9", attention=att, slide_ids=["S1"],
                        slide_index=np.array([0, 0]), coords=np.zeros((2, 2)), top_k=0)
    with pytest.raises(DataError, match="finite"):
        attention_table(patient_id="P9", attention=np.array([np.nan, 1.0]), slide_ids=["S1"],
                        slide_index=np.array([0, 0]), coords=np.zeros((2, 2)))


def test_lesion_attention_table() -> None:
    out = lesion_attention_table(patient_id="P2", attention=[0.2, 0.7, 0.1],
                                 lesion_ids=np.array(["L1", "L1", "L2"]),
                                 phases=np.array(["arterial", "portal", "arterial"]))
    assert list(out.columns) == ["patient_id", "instance", "lesion_id", "phase", "attention",
                                 "rank"]
    assert out.iloc[0][["lesion_id", "phase", "rank"]].tolist() == ["L1", "portal", 1]
    assert list(out["lesion_id"]) == ["L1", "L1", "L2"]
    no_phase = lesion_attention_table(patient_id="P2", attention=[0.2, 0.7],
                                      lesion_ids=["L1", "L2"], top_k=1)
    assert len(no_phase) == 1 and no_phase.iloc[0]["phase"] is None
    with pytest.raises(UsageError, match="lesion_ids"):
        lesion_attention_table(patient_id="P2", attention=[0.2, 0.7], lesion_ids=["L1"])
