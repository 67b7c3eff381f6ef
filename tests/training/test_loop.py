"""The fit loop and bundle round trip on a synthetic study with a known answer.

The synthetic study (:func:`synthetic_study`) draws OS and PFS from an exponential model whose
log-hazard is ``BETA_CLIN * albi + BETA_BAG * mean(bag feature 0)`` and ORR from a logistic in
minus the same risk, so a model that learns anything ranks held-out patients the right way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.evaluation.concordance import harrell_c  # noqa: E402
from hccfusion.training.bags import PatientBag  # noqa: E402
from hccfusion.training.config import ModelConfig, TrainingConfig  # noqa: E402
from hccfusion.training.dataset import (  # noqa: E402
    CLINICAL_CATEGORICAL, CLINICAL_NUMERIC, TREATMENT_COLUMNS, StudyData,
)
from hccfusion.training.loop import fit_model, make_batch, predict_frame  # noqa: E402

BETA_CLIN = 2.5
BETA_BAG = 1.0
BAG_DIM = 6
SIGNAL_COLUMN = "albi"
NOISY_MISSING = ("afp_ng_ml", "bilirubin_umol_l")

# the plumbing tests look at the fused net itself; the learning and bundle tests use experts
TINY = ModelConfig(embed_dim=8, hidden=16, radiomics_pca=4, dropout=0.1, modality_dropout=0.2,
                   fusion="gated", ensemble=1, experts=False)
FAST = TrainingConfig(epochs=30, patience=10, lr=1e-2, seed=0)


# --------------------------------------------------------------------------- synthetic study

def synthetic_study(n: int = 120, *, seed: int = 0, p_radiomics: float = 0.8,
                    p_pathology: float = 0.7, p_omics: float = 0.3) -> StudyData:
    """A StudyData with a known risk: ``lp = BETA_CLIN * albi + BETA_BAG * bag mean``."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    idx = pd.Index(ids, name="patient_id")
    clin_signal = rng.normal(size=n)
    bag_signal = rng.normal(size=n)
    lp = BETA_CLIN * clin_signal + BETA_BAG * bag_signal

    clinical = pd.DataFrame(index=idx)
    for col in CLINICAL_NUMERIC:
        if col == SIGNAL_COLUMN:
            clinical[col] = clin_signal
        else:
            # uninformative columns: constant (non-negative: some are log1p-transformed), a few
            # with ~10 % missing values to exercise the missing indicators
            values = np.ones(n)
            if col in NOISY_MISSING:
                values[rng.random(n) < 0.1] = np.nan
            clinical[col] = values
    for col in CLINICAL_CATEGORICAL:
        clinical[col] = None
    clinical["sex"] = rng.choice(["M", "F"], size=n).astype(object)
    etiology = rng.choice(["HBV", "HCV", "other"], size=n).astype(object)
    etiology[rng.random(n) < 0.1] = None
    clinical["etiology"] = etiology
    clinical["cirrhosis"] = rng.choice(["yes", "no"], size=n).astype(object)
    clinical = clinical.astype({c: object for c in CLINICAL_CATEGORICAL})

    treatment = pd.DataFrame({
        "ia_modality": rng.choice(["TACE", "HAIC"], size=n).astype(object),
        "tki_agent": rng.choice(["lenvatinib", "sorafenib", "donafenib"], size=n).astype(object),
        "pd1_agent": rng.choice(["camrelizumab", "sintilimab"], size=n).astype(object)},
        index=idx)[list(TREATMENT_COLUMNS)]

    os_time = rng.exponential(1.0, size=n) / (np.exp(lp) / 500.0)
    censor = rng.uniform(200.0, 3000.0, size=n)
    os_event = os_time <= censor
    os_obs = np.minimum(os_time, censor)
    pfs_time = os_time * rng.uniform(0.3, 0.9, size=n)
    pfs_event = pfs_time <= censor
    pfs_obs = np.minimum(pfs_time, censor)
    p_resp = 1.0 / (1.0 + np.exp(lp))
    orr = (rng.random(n) < p_resp).astype(float)
    bor = np.where(orr == 1.0, rng.choice([0.0, 1.0], size=n), rng.choice([2.0, 3.0], size=n))
    not_evaluable = rng.random(n) < 0.1
    orr[not_evaluable] = np.nan
    bor[not_evaluable] = np.nan
    targets = pd.DataFrame({"os_time": np.round(os_obs, 3) + 1.0, "os_event": os_event,
                            "pfs_time": np.round(pfs_obs, 3) + 1.0, "pfs_event": pfs_event,
                            "orr": orr, "bor": bor}, index=idx)

    # ``true_lp`` is the generating log-hazard, for the tests only (no fit reads it)
    patients = pd.DataFrame({"center": rng.choice(["WX", "NJ"], size=n),
                             "cohort": "retrospective", "true_lp": lp}, index=idx)

    has_rad = rng.random(n) < p_radiomics
    rad_cols = [f"CT__f{j:02d}" for j in range(12)]
    radiomics = pd.DataFrame(rng.normal(size=(n, len(rad_cols))), index=idx, columns=rad_cols)
    radiomics["CT__f00"] += 0.5 * lp  # a weak radiomic correlate of the risk
    radiomics = radiomics[has_rad]

    has_bag = rng.random(n) < p_pathology
    bags = {}
    for i, pid in enumerate(ids):
        if not has_bag[i]:
            continue
        n_inst = int(rng.integers(4, 16))
        feats = rng.normal(0.0, 0.5, size=(n_inst, BAG_DIM)).astype(np.float32)
        feats[:, 0] += bag_signal[i]
        n_slides = int(rng.integers(1, 3))
        slide_index = np.sort(rng.integers(0, n_slides, size=n_inst)).astype(np.int64)
        slide_index[0] = 0
        slide_index[-1] = n_slides - 1
        bags[pid] = PatientBag(patient_id=pid, features=feats, slide_index=slide_index,
                               slide_ids=tuple(f"{pid}-S{s}" for s in range(n_slides)),
                               coords=rng.integers(0, 4096, size=(n_inst, 2)).astype(np.int64))

    has_omics = rng.random(n) < p_omics
    om_cols = [f"PATHWAY_{j}" for j in range(8)]
    omics = pd.DataFrame(rng.normal(0.0, 0.1, size=(n, len(om_cols))), index=idx,
                         columns=om_cols)[has_omics]
    return StudyData(patients=patients, targets=targets, clinical=clinical,
                     treatment=treatment, radiomics=radiomics, pathology=bags, omics=omics,
                     feature_specs={"clinical": {}})


def save_study(data: StudyData, folder: Path) -> None:
    """Write ``data`` to parquet / npz so another process can rebuild it exactly."""
    folder.mkdir(parents=True, exist_ok=True)
    data.patients.to_parquet(folder / "patients.parquet")
    data.targets.to_parquet(folder / "targets.parquet")
    data.clinical.to_parquet(folder / "clinical.parquet")
    data.treatment.to_parquet(folder / "treatment.parquet")
    data.radiomics.to_parquet(folder / "radiomics.parquet")
    data.omics.to_parquet(folder / "omics.parquet")
    arrays, meta = {}, {}
    for pid, bag in data.pathology.items():
        arrays[f"{pid}__features"] = bag.features
        arrays[f"{pid}__slide_index"] = bag.slide_index
        arrays[f"{pid}__coords"] = bag.coords
        meta[pid] = list(bag.slide_ids)
    np.savez(folder / "bags.npz", **arrays)
    (folder / "bags.json").write_text(json.dumps(meta))


LOAD_STUDY = """
import json
from pathlib import Path
import numpy as np
import pandas as pd
from hccfusion.training.bags import PatientBag
from hccfusion.training.dataset import StudyData

def load_study(folder):
    folder = Path(folder)
    read = lambda name: pd.read_parquet(folder / f"{name}.parquet")
    meta = json.loads((folder / "bags.json").read_text())
    arrays = np.load(folder / "bags.npz")
    bags = {pid: PatientBag(patient_id=pid, features=arrays[f"{pid}__features"],
                            slide_index=arrays[f"{pid}__slide_index"],
                            slide_ids=tuple(slides), coords=arrays[f"{pid}__coords"])
            for pid, slides in meta.items()}
    return StudyData(patients=read("patients"), targets=read("targets"),
                     clinical=read("clinical"), treatment=read("treatment"),
                     radiomics=read("radiomics"), pathology=bags, omics=read("omics"))
"""


def split_ids(data: StudyData, n_train: int = 72, n_val: int = 18
              ) -> tuple[list[str], list[str], list[str]]:
    ids = data.patient_ids
    return ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]


@pytest.fixture(scope="module")
def study() -> StudyData:
    return synthetic_study()


@pytest.fixture(scope="module")
def fitted(study):
    """The learning fit, with modality experts (slow: only the slow tests use it)."""
    train, val, _ = split_ids(study)
    return fit_model(study, train_ids=train, val_ids=val,
                     model=TINY.model_copy(update={"experts": True}), training=FAST)


@pytest.fixture(scope="module")
def quick(study):
    """A 3-epoch fit for the tests of plumbing (batches, masking, state)."""
    train, val, _ = split_ids(study)
    return fit_model(study, train_ids=train, val_ids=val, model=TINY,
                     training=TrainingConfig(epochs=3, patience=3, lr=1e-2, seed=0))


# --------------------------------------------------------------------------- the synthetic data

def test_synthetic_study_has_the_promised_shape(study):
    avail = study.available()
    assert study.modalities == ("clinical", "radiomics", "pathology", "omics")
    assert avail["clinical"].all()
    assert 0.65 < avail["radiomics"].mean() < 0.95
    assert 0.55 < avail["pathology"].mean() < 0.85
    assert 0.15 < avail["omics"].mean() < 0.45
    # the truth is learnable: the generating risk ranks patients well
    lp = study.patients["true_lp"]
    c = harrell_c(time=study.targets["os_time"], event=study.targets["os_event"], risk=lp).c
    assert c > 0.75


# --------------------------------------------------------------------------- learning

@pytest.mark.slow
def test_model_learns_the_known_risk_on_held_out_patients(study, fitted):
    _, _, test = split_ids(study)
    pred = predict_frame(fitted, study, test).set_index("patient_id")
    t = study.targets.loc[test]
    for ep in ("os", "pfs"):
        risk = pred[f"risk_{ep}"].to_numpy(float)
        assert np.isfinite(risk).all()
        c = harrell_c(time=t[f"{ep}_time"], event=t[f"{ep}_event"], risk=risk).c
        # Harrell's C uses "higher risk = shorter survival": C > 0.65 also pins the direction
        assert c > 0.65, (ep, c)
    # risk rises with the generating log-hazard (Spearman)
    rho = pred["risk_os"].rank().corr(study.patients.loc[test, "true_lp"].rank())
    assert rho > 0.4, rho
    # response probability falls with risk (ORR is logistic in minus the risk)
    assert np.corrcoef(pred["risk_os"], pred["p_response"])[0, 1] < 0
    assert ((pred["p_response"] > 0) & (pred["p_response"] < 1)).all()


def test_history_and_fitted_state(study, quick):
    fitted = quick
    train, val, _ = split_ids(study)
    assert fitted.train_ids == tuple(train) and fitted.val_ids == tuple(val)
    assert fitted.modalities == ("clinical", "radiomics", "pathology", "omics")
    assert {"epoch", "train_loss", "val_loss", "member"} <= set(fitted.history.columns)
    assert (fitted.history["member"] == 0).all()
    assert 1 <= len(fitted.history) <= 3
    assert np.isfinite(fitted.history["val_loss"]).all()
    assert fitted.extra["best_epoch"] == int(fitted.history["val_loss"].idxmin())
    assert set(fitted.preprocessors) == {"clinical", "treatment", "radiomics", "omics"}
    assert fitted.time_bins == {}  # Cox heads: no bins
    assert not fitted.net.training


# --------------------------------------------------------------------------- batches

def test_make_batch_follows_the_tensor_contract(study, quick):
    fitted = quick
    ids = study.patient_ids[:10]
    batch = make_batch(fitted, study, ids)
    avail = study.available().loc[ids]
    assert batch["available"].dtype == torch.bool
    assert batch["available"].shape == (10, 4)
    np.testing.assert_array_equal(batch["available"].numpy(),
                                  avail[list(fitted.modalities)].to_numpy())
    assert batch["clinical"].shape == (10, len(fitted.preprocessors["clinical"].feature_names_out_))
    assert batch["treatment"].dtype == torch.long and batch["treatment"].shape == (10, 3)
    width = len(fitted.preprocessors["radiomics"].feature_names_out_)
    assert batch["radiomics"].shape == (10, width)
    for row, pid in enumerate(ids):
        if not avail.loc[pid, "radiomics"]:
            assert torch.all(batch["radiomics"][row] == 0)
        if not avail.loc[pid, "omics"]:
            assert torch.all(batch["omics"][row] == 0)
        bag = batch["pathology"][row]
        if avail.loc[pid, "pathology"]:
            src = study.pathology[pid]
            assert bag.shape == src.features.shape
            # standardised with the patient's centre's statistics, then the instance scaler
            site = fitted.site_scaler["sites"][study.patients.at[pid, "center"]]
            harmonised = (src.features - np.asarray(site["mean"])) / np.asarray(site["std"])
            mean = np.asarray(fitted.bag_scaler["mean"], np.float32)
            std = np.asarray(fitted.bag_scaler["std"], np.float32)
            np.testing.assert_allclose(bag.numpy(), (harmonised - mean) / std, rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_array_equal(batch["pathology_groups"][row].numpy(),
                                          src.slide_index)
        else:
            assert bag.shape == (0, BAG_DIM)


# --------------------------------------------------------------------------- determinism

def _flat_weights(fitted) -> np.ndarray:
    return np.concatenate([v.detach().numpy().ravel()
                           for v in fitted.net.state_dict().values() if v.is_floating_point()])


@pytest.mark.slow
def test_same_seed_same_predictions_other_seed_other_weights(study):
    train, val, test = split_ids(study)
    cfg = TrainingConfig(epochs=2, patience=2, lr=1e-2, seed=3)
    a = fit_model(study, train_ids=train, val_ids=val, model=TINY, training=cfg)
    b = fit_model(study, train_ids=train, val_ids=val, model=TINY, training=cfg)
    c = fit_model(study, train_ids=train, val_ids=val, model=TINY,
                  training=cfg.model_copy(update={"seed": 4}))
    pa, pb = predict_frame(a, study, test), predict_frame(b, study, test)
    pd.testing.assert_frame_equal(pa, pb)
    np.testing.assert_array_equal(_flat_weights(a), _flat_weights(b))
    assert not np.array_equal(_flat_weights(a), _flat_weights(c))
    assert not np.allclose(pa["risk_os"], predict_frame(c, study, test)["risk_os"])


@pytest.mark.slow
def test_a_seed_ensemble_averages_members_and_round_trips(study, tmp_path):
    from hccfusion.training.persist import load_fitted, save_fitted

    train, val, test = split_ids(study)
    cfg = TrainingConfig(epochs=2, patience=2, lr=1e-2, seed=7)
    single = fit_model(study, train_ids=train, val_ids=val, model=TINY, training=cfg)
    ens = fit_model(study, train_ids=train, val_ids=val,
                    model=TINY.model_copy(update={"ensemble": 2}), training=cfg)
    assert sorted(set(ens.history["member"])) == [0, 1]
    members = list(ens.net.members)
    assert len(members) == 2
    # member k is seeded with seed + k: member 0 is the single model
    for a, b in zip(single.net.state_dict().values(), members[0].state_dict().values()):
        assert torch.equal(a, b)
    batch = make_batch(ens, study, test)
    with torch.no_grad():
        mean = torch.stack([m(batch).risk["os"] for m in members]).mean(dim=0).numpy()
    pred = predict_frame(ens, study, test)
    np.testing.assert_allclose(pred["risk_os"], mean, rtol=1e-6)
    path = save_fitted(ens, tmp_path / "bundle", training_config=cfg.model_dump(), cutoffs={},
                       feature_specs={m: {} for m in ens.modalities}, summary={}, seed=7)
    again, _ = load_fitted(path)
    pd.testing.assert_frame_equal(predict_frame(again, study, test), pred, check_exact=True)


# --------------------------------------------------------------------------- leakage

def _corrupt(data: StudyData, ids: list[str]) -> StudyData:
    """The same study with ``ids``' inputs and outcomes wrecked (×1000, NaN, swapped)."""
    clinical = data.clinical.copy()
    numeric = list(CLINICAL_NUMERIC)
    clinical.loc[ids, numeric] = clinical.loc[ids, numeric] * 1000.0
    clinical.loc[ids[::2], numeric[:5]] = np.nan
    clinical.loc[ids, "sex"] = "unknown-level"
    treatment = data.treatment.copy()
    treatment.loc[ids, "tki_agent"] = "never-seen"
    radiomics = data.radiomics.copy()
    rows = radiomics.index.isin(ids)
    radiomics.loc[rows] = radiomics.loc[rows] * 1000.0
    radiomics.loc[radiomics.index[rows][::2], radiomics.columns[:3]] = np.nan
    omics = data.omics.copy()
    orows = omics.index.isin(ids)
    omics.loc[orows] = omics.loc[orows] * 1000.0
    bags = dict(data.pathology)
    for pid in ids:
        if pid in bags:
            b = bags[pid]
            bags[pid] = PatientBag(patient_id=pid, features=b.features * 1000.0 + 7.0,
                                   slide_index=b.slide_index, slide_ids=b.slide_ids,
                                   coords=b.coords)
    targets = data.targets.copy()
    targets.loc[ids, ["os_time", "pfs_time"]] = targets.loc[ids, ["os_time", "pfs_time"]] * 1000
    targets.loc[ids, "os_event"] = ~targets.loc[ids, "os_event"].astype(bool)
    targets.loc[ids, ["orr", "bor"]] = np.nan
    return StudyData(patients=data.patients, targets=targets, clinical=clinical,
                     treatment=treatment, radiomics=radiomics, pathology=bags, omics=omics,
                     feature_specs=data.feature_specs)


@pytest.mark.slow
def test_held_out_patients_never_reach_the_fit(study):
    train, val, test = split_ids(study)
    # with modality experts (the linear one too): their weights, coefficients, scales and skill
    # weights are buffers of the net
    model = TINY.model_copy(update={"survival_head": "discrete", "n_bins": 5, "experts": True})
    cfg = TrainingConfig(epochs=3, patience=3, seed=1)
    clean = fit_model(study, train_ids=train, val_ids=val, model=model, training=cfg)
    assert type(clean.net).__name__ == "ExpertsNet"
    broken = _corrupt(study, test)
    # the corruption is real: the test patients' inputs did change
    assert not np.allclose(make_batch(clean, study, test)["clinical"].numpy(),
                           make_batch(clean, broken, test)["clinical"].numpy())
    assert {"clinical_linear", "pathology_linear"} <= set(clean.net.experts)
    from hccfusion.training.experts import _LINEAR_CACHE

    _LINEAR_CACHE.clear()   # the linear experts are fitted again, not served from the cache
    again = fit_model(broken, train_ids=train, val_ids=val, model=model, training=cfg)
    assert set(clean.preprocessors) == set(again.preprocessors)
    for name, pre in clean.preprocessors.items():
        assert pre.to_dict() == again.preprocessors[name].to_dict(), name
    assert clean.bag_scaler == again.bag_scaler
    assert set(clean.time_bins) == {"os", "pfs"}
    for ep in ("os", "pfs"):
        assert clean.time_bins[ep].to_dict() == again.time_bins[ep].to_dict()
    np.testing.assert_array_equal(_flat_weights(clean), _flat_weights(again))
    pd.testing.assert_frame_equal(predict_frame(clean, study, train + val),
                                  predict_frame(again, broken, train + val))


@pytest.mark.slow
def test_mini_batches_train_and_are_seeded(study):
    train, val, test = split_ids(study)
    cfg = TrainingConfig(epochs=1, patience=1, batch_size=24, lr=1e-2, seed=5)
    a = fit_model(study, train_ids=train, val_ids=val, model=TINY, training=cfg)
    b = fit_model(study, train_ids=train, val_ids=val, model=TINY, training=cfg)
    assert len(a.history) == 1 and np.isfinite(a.history[["train_loss", "val_loss"]]).all().all()
    pd.testing.assert_frame_equal(predict_frame(a, study, test), predict_frame(b, study, test))


def test_fit_model_refuses_overlap_and_tiny_training_sets(study):
    ids = study.patient_ids
    with pytest.raises(UsageError, match=ids[5]):
        fit_model(study, train_ids=ids[:20], val_ids=ids[5:8], model=TINY, training=FAST)
    with pytest.raises(DataError, match="only 9 training patients"):
        fit_model(study, train_ids=ids[:9], val_ids=ids[9:12], model=TINY, training=FAST)


def test_fit_model_survives_a_clinical_column_missing_for_every_training_patient(study):
    train, val, test = split_ids(study)
    clinical = study.clinical.copy()
    clinical["pivka_ii_mau_ml"] = np.nan
    data = StudyData(patients=study.patients, targets=study.targets, clinical=clinical,
                     treatment=study.treatment, radiomics=study.radiomics,
                     pathology=study.pathology, omics=study.omics)
    fitted = fit_model(data, train_ids=train, val_ids=val, model=TINY,
                       training=TrainingConfig(epochs=2, patience=2))
    assert np.isfinite(predict_frame(fitted, data, test)["risk_os"]).all()


# --------------------------------------------------------------------------- modality masking

def test_dropping_pathology_equals_a_patient_without_a_bag(study, quick):
    fitted = quick
    _, _, test = split_ids(study)
    with_bag = [p for p in test if p in study.pathology]
    full = predict_frame(fitted, study, with_bag).set_index("patient_id")
    dropped = predict_frame(fitted, study, with_bag, drop=("pathology",)).set_index("patient_id")
    assert not np.allclose(full["risk_os"], dropped["risk_os"])
    bags = {p: b for p, b in study.pathology.items() if p not in with_bag}
    no_bags = StudyData(patients=study.patients, targets=study.targets,
                        clinical=study.clinical, treatment=study.treatment,
                        radiomics=study.radiomics, pathology=bags, omics=study.omics)
    absent = predict_frame(fitted, no_bags, with_bag).set_index("patient_id")
    pd.testing.assert_frame_equal(dropped, absent, rtol=1e-6, atol=1e-7)
    # a study with no omics table at all scores like one whose omics are hidden
    no_omics = StudyData(patients=study.patients, targets=study.targets,
                         clinical=study.clinical, treatment=study.treatment,
                         radiomics=study.radiomics, pathology=study.pathology, omics=None)
    with_omics = [p for p in test if p in study.omics.index]
    assert with_omics
    hidden = predict_frame(fitted, study, with_omics, drop=("omics",))
    pd.testing.assert_frame_equal(predict_frame(fitted, no_omics, with_omics), hidden,
                                  rtol=1e-6, atol=1e-7)
    assert not np.allclose(hidden["risk_os"], predict_frame(fitted, study, with_omics)["risk_os"])


def test_a_patient_left_with_no_modality_gets_nan(study, quick):
    fitted = quick
    ids = study.patient_ids[:12]
    every = ("clinical", "radiomics", "pathology", "omics")
    pred = predict_frame(fitted, study, ids, drop=every)
    assert pred[["risk_os", "risk_pfs", "p_response"]].isna().all().all()
    # only patients with radiomics keep a prediction when everything else is hidden
    rad_only = predict_frame(fitted, study, ids, drop=("clinical", "pathology", "omics"))
    has_rad = study.available().loc[ids, "radiomics"].to_numpy()
    assert has_rad.any() and (~has_rad).any()
    assert np.isfinite(rad_only["risk_os"].to_numpy()[has_rad]).all()
    assert rad_only["risk_os"].isna().to_numpy()[~has_rad].all()
    assert predict_frame(fitted, study, []).empty


# --------------------------------------------------------------------------- discrete head

@pytest.mark.slow
def test_discrete_head_gives_survival_probabilities(study):
    train, val, test = split_ids(study)
    model = TINY.model_copy(update={"survival_head": "discrete", "n_bins": 6})
    fit = fit_model(study, train_ids=train, val_ids=val, model=model,
                    training=TrainingConfig(epochs=5, patience=5, lr=1e-2))
    assert fit.time_bins["os"].n_bins_ == 6
    horizons = (90.0, 180.0, 365.0, 730.0)
    pred = predict_frame(fit, study, test, horizons_days=horizons)
    cols = [f"surv_os_{int(h)}d" for h in horizons]
    assert set(cols) <= set(pred.columns)
    surv = pred[cols].to_numpy(float)
    assert np.isfinite(surv).all()
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-7).all()
    # the risk of a discrete head is minus the area under S: lower survival, higher risk
    rho = np.corrcoef(pred["risk_os"], pred["surv_os_365d"])[0, 1]
    assert rho < 0
    # beyond the longest training follow-up nothing is extrapolated
    far = predict_frame(fit, study, test, horizons_days=(1e7,))
    assert "surv_os_10000000d" not in far.columns


# --------------------------------------------------------------------------- bundle round trip

@pytest.mark.slow
def test_a_saved_bundle_reproduces_its_predictions_in_a_fresh_process(study, fitted, tmp_path):
    from hccfusion.training.persist import load_fitted, save_fitted

    _, _, test = split_ids(study)
    data_dir = tmp_path / "data"
    save_study(study, data_dir)
    bundle = save_fitted(fitted, tmp_path / "bundle", training_config=FAST.model_dump(),
                         cutoffs={}, feature_specs={m: {} for m in fitted.modalities},
                         summary={"n_patients": 90}, seed=0)
    expected = predict_frame(fitted, study, test, drop=())
    expected_drop = predict_frame(fitted, study, test, drop=("pathology",))

    # same process first: a reload is the same model
    again, _ = load_fitted(bundle)
    assert again.modalities == fitted.modalities
    pd.testing.assert_frame_equal(predict_frame(again, study, test), expected, check_exact=True)

    out = tmp_path / "child.parquet"
    script = LOAD_STUDY + textwrap.dedent(f"""
        from hccfusion.training.loop import predict_frame
        from hccfusion.training.persist import load_fitted
        data = load_study({str(data_dir)!r})
        fitted, _ = load_fitted({str(bundle)!r})
        ids = {test!r}
        full = predict_frame(fitted, data, ids).assign(kind="full")
        drop = predict_frame(fitted, data, ids, drop=("pathology",)).assign(kind="drop")
        pd.concat([full, drop], ignore_index=True).to_parquet({str(out)!r})
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    child = pd.read_parquet(out)
    for kind, want in (("full", expected), ("drop", expected_drop)):
        got = child[child["kind"] == kind].drop(columns="kind").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_exact=True)
