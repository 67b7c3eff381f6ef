"""Learning tests with a known answer: the label is the presence of a few "positive" instances
among many negatives, spread over one or two slides per patient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hccfusion.errors import DataError, UsageError
from hccfusion.training.bags import PatientBag
from hccfusion.training.mil import (
    FittedMil,
    attention_scores,
    auc_score,
    fit_mil_classifier,
    fit_mil_survival,
    harrell_c,
    neg_cox_partial_log_likelihood,
    predict_mil,
    stratified_patient_split,
)

DIM = 16
SHIFT = 3.0  # positive instances: the first three features shifted by +3 SD


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bag(patient_id: str, rng: np.random.Generator, *, n_positive: int,
         positive_slide: int | None = None) -> tuple[PatientBag, np.ndarray]:
    """1–2 slides of 8–20 tiles; ``n_positive`` planted tiles, on ``positive_slide`` if given."""
    n_slides = 2 if positive_slide is not None else int(rng.integers(1, 3))
    sizes = rng.integers(8, 21, size=n_slides)
    index = np.repeat(np.arange(n_slides), sizes)
    x = rng.normal(size=(len(index), DIM)).astype(np.float32)
    candidates = np.flatnonzero(index == positive_slide) if positive_slide is not None \
        else np.arange(len(index))
    positive = np.zeros(len(index), dtype=bool)
    positive[rng.choice(candidates, size=n_positive, replace=False)] = True
    x[positive, :3] += SHIFT
    coords = np.stack([np.arange(len(index)) * 224, np.zeros(len(index))], axis=1)
    bag = PatientBag(patient_id=patient_id, features=x, slide_index=index.astype(np.int64),
                     slide_ids=tuple(f"{patient_id}-HE{k + 1}" for k in range(n_slides)),
                     coords=coords.astype(np.int64))
    return bag, positive


def _cohort(n: int, seed: int, prefix: str):
    rng = np.random.default_rng(seed)
    bags, labels, positives = {}, {}, {}
    for i in range(n):
        pid = f"{prefix}-{i:03d}"
        labels[pid] = i % 2
        bags[pid], positives[pid] = _bag(pid, rng, n_positive=int(rng.integers(1, 4)) * (i % 2))
    return bags, labels, positives


@pytest.fixture(scope="module")
def trained():
    bags, labels, _ = _cohort(48, seed=1, prefix="TR")
    fitted = fit_mil_classifier(bags=bags, labels=labels, pooler="abmil", epochs=8, lr=2e-3,
                                seed=0, pooler_kw={"hidden_dim": 32})
    return fitted, bags, labels


def test_abmil_separates_held_out_patients(trained):
    fitted, _, _ = trained
    test_bags, test_labels, _ = _cohort(40, seed=2, prefix="TE")
    pred = predict_mil(fitted, test_bags)
    assert list(pred.columns) == ["patient_id", "score"]
    assert pred["score"].between(0, 1).all()
    auc = auc_score(y_true=pred["patient_id"].map(test_labels).to_numpy(),
                    score=pred["score"].to_numpy())
    assert auc > 0.9


def test_abmil_attention_ranks_the_positive_instances_on_top(trained):
    fitted, _, _ = trained
    test_bags, test_labels, positives = _cohort(40, seed=3, prefix="AT")
    hits = []
    for pid, bag in test_bags.items():
        if test_labels[pid]:
            attention = attention_scores(fitted, bag)
            assert attention.shape == (bag.n_instances,)
            assert attention.sum() == pytest.approx(1.0, abs=1e-5)
            k = int(positives[pid].sum())
            hits.append(set(np.argsort(-attention)[:k]) == set(np.flatnonzero(positives[pid])))
    assert np.mean(hits) >= 0.9


def test_positives_only_in_the_second_slide_still_make_a_positive_patient(trained):
    fitted, _, _ = trained
    rng = np.random.default_rng(4)
    late, positive = _bag("LATE", rng, n_positive=2, positive_slide=1)
    negative, _ = _bag("NEG", rng, n_positive=0, positive_slide=0)
    assert not positive[late.slide_index == 0].any()
    scores = predict_mil(fitted, {"LATE": late, "NEG": negative}).set_index("patient_id")
    assert scores.loc["LATE", "score"] > 0.5 > scores.loc["NEG", "score"]
    attention = attention_scores(fitted, late)
    assert attention[late.slide(late.slide_ids[1])].sum() > 0.5


def test_fit_records_history_split_and_best_epoch(trained):
    fitted, bags, labels = trained
    assert isinstance(fitted, FittedMil)
    assert list(fitted.history.columns) == ["epoch", "train_loss", "val_loss", "val_metric"]
    assert len(fitted.history) == 8 and 1 <= fitted.best_epoch <= 8
    assert set(fitted.train_patients).isdisjoint(fitted.val_patients)
    assert set(fitted.train_patients) | set(fitted.val_patients) == set(bags)
    # stratified: 20 % of each class held out
    assert sorted(labels[p] for p in fitted.val_patients) == [0] * 5 + [1] * 5
    best = fitted.history.loc[fitted.history["epoch"] == fitted.best_epoch, "val_loss"].item()
    assert best == fitted.history["val_loss"].min()


def test_scaler_is_fitted_on_training_patients_only():
    bags, labels, _ = _cohort(20, seed=5, prefix="SC")
    kw = dict(labels=labels, epochs=1, seed=0, pooler="mean", pooler_kw={"hidden_dim": 4})
    clean = fit_mil_classifier(bags=bags, **kw)

    def corrupt(pid):
        bag = bags[pid]
        bad = PatientBag(patient_id=pid, features=bag.features * 1000 + 1e6,
                         slide_index=bag.slide_index, slide_ids=bag.slide_ids, coords=bag.coords)
        return fit_mil_classifier(bags={**bags, pid: bad}, **kw)

    after_val = corrupt(clean.val_patients[0])
    assert after_val.val_patients == clean.val_patients
    np.testing.assert_array_equal(after_val.feature_mean_, clean.feature_mean_)
    np.testing.assert_array_equal(after_val.feature_std_, clean.feature_std_)
    # the same corruption on a training patient does move it (the check can fail)
    after_train = corrupt(clean.train_patients[0])
    assert np.abs(after_train.feature_mean_ - clean.feature_mean_).min() > 1e3


def test_same_seed_same_model_and_split():
    bags, labels, _ = _cohort(16, seed=6, prefix="RS")
    kw = dict(bags=bags, labels=labels, epochs=2, seed=3, pooler="abmil",
              pooler_kw={"hidden_dim": 8})
    a, b = fit_mil_classifier(**kw), fit_mil_classifier(**kw)
    assert a.val_patients == b.val_patients
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_survival_loop_learns_a_risk_driven_by_positive_instances():
    rng = np.random.default_rng(7)
    bags, time, event, n_pos = {}, {}, {}, {}
    for i in range(80):
        pid = f"SV-{i:03d}"
        k = int(rng.integers(0, 4))
        bags[pid], _ = _bag(pid, rng, n_positive=k)
        n_pos[pid] = k
        time[pid] = float(rng.exponential(365.0 / np.exp(1.2 * k)))
        event[pid] = bool(rng.random() < 0.8)
    train = sorted(bags)[:60]
    # mean pooling: the hazard grows with the *count* of positive tiles
    fitted = fit_mil_survival(bags={p: bags[p] for p in train}, time=time, event=event,
                              pooler="mean", epochs=20, lr=3e-3, seed=0, val_fraction=0.0,
                              batch_size=8, pooler_kw={"hidden_dim": 16})
    assert fitted.task == "survival" and fitted.best_epoch == 20
    test = sorted(bags)[60:]
    risk = predict_mil(fitted, {p: bags[p] for p in test})["score"].to_numpy()
    # the model should recover the planted ordering: more positive tiles, higher risk
    assert harrell_c(time=-np.array([n_pos[p] for p in test], dtype=float),
                     event=np.ones(len(test)), risk=risk) > 0.75


def test_cox_loss_matches_a_hand_computed_value():
    risk = torch.tensor([0.5, -0.2, 1.0])
    time = torch.tensor([2.0, 5.0, 3.0])
    event = torch.tensor([1.0, 0.0, 1.0])
    # event at t=2: all three at risk; event at t=3: patients 2 and 3 (t = 5, 3) at risk
    expected = -((0.5 - np.log(np.exp(0.5) + np.exp(-0.2) + np.exp(1.0)))
                 + (1.0 - np.log(np.exp(-0.2) + np.exp(1.0)))) / 2
    assert float(neg_cox_partial_log_likelihood(risk=risk, time=time, event=event)) \
        == pytest.approx(expected, rel=1e-6)


def test_auc_and_c_index_agree_with_known_values():
    assert auc_score(y_true=np.array([0, 0, 1, 1]), score=np.array([0.1, 0.4, 0.35, 0.8])) \
        == pytest.approx(0.75)
    assert auc_score(y_true=np.array([0, 1]), score=np.array([0.5, 0.5])) == 0.5
    # 3 comparable pairs (the shorter time is an event), 2 concordant
    assert harrell_c(time=np.array([1.0, 2.0, 3.0]), event=np.array([1, 1, 0]),
                     risk=np.array([3.0, 1.0, 2.0])) == pytest.approx(2 / 3)


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    patients = [f"P{i}" for i in range(30)]
    strata = np.array([0] * 20 + [1] * 10)
    train, val = stratified_patient_split(patients=patients, strata=strata, val_fraction=0.2,
                                          seed=1)
    assert sorted(train + val) == sorted(patients)
    assert sum(strata[patients.index(p)] for p in val) == 2 and len(val) == 6
    assert (train, val) == stratified_patient_split(patients=patients, strata=strata,
                                                    val_fraction=0.2, seed=1)
    # a stratum of one patient stays in training, whatever the fraction
    train, val = stratified_patient_split(patients=["A", "B", "C"], strata=np.array([0, 0, 1]),
                                          val_fraction=0.6, seed=0)
    assert "C" in train and len(val) == 1


def test_named_failure_cases():
    bags, labels, _ = _cohort(6, seed=8, prefix="FC")
    with pytest.raises(UsageError, match=r"The 'epochs' parameter of fit_mil_classifier must "
                                         r"be a positive int\. Got 0 instead\."):
        fit_mil_classifier(bags=bags, labels=labels, epochs=0)
    with pytest.raises(UsageError, match=r"The 'val_fraction' parameter of fit_mil_classifier "
                                         r"must be a float in \[0, 1\)\. Got 1\.0 instead\."):
        fit_mil_classifier(bags=bags, labels=labels, val_fraction=1.0)
    with pytest.raises(UsageError, match=r"The 'labels' parameter of fit_mil_classifier must "
                                         r"map patients to 0 or 1\. Got values \[0, 2\]"):
        fit_mil_classifier(bags=bags, labels={p: 2 * v for p, v in labels.items()})
    with pytest.raises(DataError, match=r"needs both classes among the patients; all are 1"):
        fit_mil_classifier(bags=bags, labels={p: 1 for p in labels})
    with pytest.raises(DataError, match=r"needs at least 2 patients with both a bag and a "
                                        r"target; found 0"):
        fit_mil_classifier(bags=bags, labels={"nobody": 1})
    with pytest.raises(UsageError, match=r"The 'bags' parameter of fit_mil_classifier must be "
                                         r"a mapping of patient_id to PatientBag"):
        fit_mil_classifier(bags={p: b.features for p, b in bags.items()}, labels=labels)
    with pytest.raises(UsageError, match=r"The 'fitted' parameter of predict_mil must be a "
                                         r"FittedMil\. Got dict instead\."):
        predict_mil({}, bags)


def test_predicting_a_bag_of_another_width_names_the_patient(trained):
    fitted, _, _ = trained
    wide = PatientBag(patient_id="W-1", features=np.zeros((3, DIM + 1), np.float32),
                      slide_index=np.zeros(3, np.int64), slide_ids=("W-1-HE1",),
                      coords=np.zeros((3, 2), np.int64))
    with pytest.raises(DataError, match=r"patient W-1: the bag has 17 features per instance; "
                                        r"the model was fitted on 16"):
        predict_mil(fitted, {"W-1": wide})
