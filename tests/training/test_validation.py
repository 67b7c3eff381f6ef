"""One validation split: tuning, cut-offs and baselines never see the split's test patients.

The cut-offs are frozen by the pipeline (:func:`hccfusion.pipeline.train.freeze_cutoffs`: the
training layer does not import ``evaluation``); its unit tests are in tests/pipeline/test_train.py,
the end-to-end "test patients do not move it" check stays here beside the split it needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from hccfusion.training import baselines as bl  # noqa: E402
from hccfusion.training import validation  # noqa: E402
from hccfusion.training.config import (  # noqa: E402
    BaselineConfig, DataConfig, ModelConfig, StudyConfig, TrainingConfig, TuningConfig,
)
from hccfusion.training.dataset import StudyData  # noqa: E402
from tests.training.test_loop import _corrupt, synthetic_study  # noqa: E402

FIXED = ["model", "split_id", "cohort_label", "patient_id", "endpoint", "risk"]

CONFIG = StudyConfig(
    data=DataConfig(cohort="unused/cohort", endpoints="unused/endpoints"),
    model=ModelConfig(embed_dim=8, hidden=16, radiomics_pca=4, ensemble=1),
    training=TrainingConfig(epochs=6, patience=3, lr=1e-2),
    tuning=TuningConfig(grid={"weight_decay": [1e-3, 1e-2]}),
    baselines=BaselineConfig(random_survival_forest=False))


def _with_scores(data: StudyData) -> StudyData:
    rng = np.random.default_rng(5)
    scores = pd.DataFrame({"bclc_2022": rng.choice(["A", "B", "C"], size=len(data.patients))},
                          index=data.patients.index)
    return StudyData(patients=data.patients, targets=data.targets, clinical=data.clinical,
                     treatment=data.treatment, radiomics=data.radiomics,
                     pathology=data.pathology, omics=data.omics, scores=scores)


def _split(data: StudyData) -> tuple[list[str], list[str], list[str], pd.Series]:
    ids = data.patient_ids
    train, val, test = ids[:64], ids[64:84], ids[84:]
    labels = pd.Series(["external NJ"] * 20 + ["temporal prospective"] * (len(test) - 20),
                       index=test)
    return train, val, test, labels


class _Recorder:
    """Every patient id and design-matrix row count that reached a fit."""

    def __init__(self) -> None:
        self.fit_calls: list[tuple[list[str], list[str]]] = []
        self.design_train: list[list[str]] = []
        self.baseline_rows: list[tuple[str, int]] = []


@pytest.fixture(scope="module")
def run():
    data = _with_scores(synthetic_study(n=120, seed=2))
    train, val, test, labels = _split(data)
    rec = _Recorder()
    real_fit, real_design = validation.fit_model, validation._design

    def spy_fit(data, *, train_ids, val_ids, **kwargs):
        rec.fit_calls.append((list(train_ids), list(val_ids)))
        return real_fit(data, train_ids=train_ids, val_ids=val_ids, **kwargs)

    def spy_design(data, train_ids, ids, **kwargs):
        rec.design_train.append(list(train_ids))
        return real_design(data, train_ids, ids, **kwargs)

    def spy_class(cls):
        real = cls.fit

        def fit(self, *, X, **kwargs):
            rec.baseline_rows.append((cls.__name__, len(X)))
            return real(self, X=X, **kwargs)
        return fit

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(validation, "fit_model", spy_fit)
        mp.setattr(validation, "_design", spy_design)
        for cls in (bl.CoxBaseline, bl.PenalisedCoxBaseline, bl.LogisticBaseline):
            mp.setattr(cls, "fit", spy_class(cls))
        result = validation.run_split(data, split_id="ext-WX", train_ids=train, val_ids=val,
                                      test_ids=test, labels=labels, config=CONFIG)
    return data, (train, val, test, labels), rec, result


@pytest.mark.slow
def test_no_fit_ever_sees_a_test_patient(run):
    _, (train, val, test, _), rec, result = run
    test_set = set(test)
    # 2 tuning candidates + one single-modality model per modality
    assert len(rec.fit_calls) == 2 + 4
    for train_ids, val_ids in rec.fit_calls:
        assert not test_set & set(train_ids), "a test patient reached fit_model's train_ids"
        assert not test_set & set(val_ids), "a test patient reached fit_model's val_ids"
        assert set(train_ids) <= set(train) and set(val_ids) <= set(val)
    assert rec.design_train, "the classical baselines were not run"
    for ids in rec.design_train:
        assert set(ids) == set(train) | set(val)
    fit_rows = len(train) + len(val)
    kinds = {name for name, _ in rec.baseline_rows}
    assert {"CoxBaseline", "PenalisedCoxBaseline", "LogisticBaseline"} <= kinds
    for name, rows in rec.baseline_rows:
        if name == "LogisticBaseline":  # patients with an evaluable response only
            assert rows <= fit_rows
        else:
            assert rows == fit_rows, (name, rows)
    assert result.fitted.train_ids == tuple(train) and result.fitted.val_ids == tuple(val)


@pytest.mark.slow
def test_predictions_table_has_the_fixed_vocabulary(run):
    data, (train, val, test, labels), _, result = run
    pred = result.predictions
    assert list(pred.columns[:6]) == FIXED
    assert (pred["split_id"] == "ext-WX").all()
    assert set(pred["patient_id"]) <= set(test)
    assert set(pred["endpoint"]) == {"os", "pfs", "orr"}
    models = set(pred["model"])
    subsets = {"multimodal[clinical]", "multimodal[clinical+pathology]",
               "multimodal[radiomics+pathology+omics]", "multimodal[omics]"}
    assert {"multimodal", "cox:clinical", "penalised_cox:clinical+radiomics",
            "single:clinical", "single:pathology", "score:bclc_2022"} | subsets <= models
    assert "rsf:clinical+radiomics" not in models  # switched off in the config
    # 4 modalities: 2^4 - 2 proper non-empty subsets
    assert len([m for m in models if m.startswith("multimodal[")]) == 14
    assert not pred.duplicated(["model", "patient_id", "endpoint"]).any()
    full = ["multimodal", "cox:clinical"] + sorted(subsets)
    for model in full:
        part = pred[pred["model"] == model]
        assert len(part) == 3 * len(test), model
        assert set(part["patient_id"]) == set(test)
    # the penalised Cox baseline is survival only (ORR's logistic sits beside the plain Cox)
    part = pred[pred["model"] == "penalised_cox:clinical+radiomics"]
    assert len(part) == 2 * len(test) and set(part["endpoint"]) == {"os", "pfs"}
    avail = data.available()
    for m in ("clinical", "pathology"):
        part = pred[pred["model"] == f"single:{m}"]
        have = {p for p in test if avail.loc[p, m]}
        assert set(part["patient_id"]) == have and len(part) == 3 * len(have)
    # clinical scores have no ORR prediction
    assert set(pred.loc[pred["model"] == "score:bclc_2022", "endpoint"]) == {"os", "pfs"}
    # the cohort label follows the patient
    np.testing.assert_array_equal(pred["cohort_label"], labels.reindex(pred["patient_id"]))
    # ORR "risk" is a probability of response
    orr = pred.loc[(pred["endpoint"] == "orr") & (pred["model"] == "multimodal"), "risk"]
    assert ((orr > 0) & (orr < 1)).all()
    assert "risk_group" not in pred.columns  # the pipeline adds it (tests/pipeline/test_train.py)
    # a patient whose only modality is hidden has no prediction in that subset
    rad_only = pred[(pred["model"] == "multimodal[radiomics]")].set_index(
        ["patient_id", "endpoint"])["risk"]
    no_rad = [p for p in test if not avail.loc[p, "radiomics"]]
    assert no_rad and rad_only.loc[no_rad].isna().all()


@pytest.mark.slow
def test_tuning_table_and_choice(run):
    _, _, _, result = run
    assert list(result.tuning["weight_decay"]) == [1e-3, 1e-2]
    assert set(result.chosen) == {"weight_decay"}
    best = result.tuning["val_c"].max()
    assert result.tuning.loc[result.tuning["weight_decay"] == result.chosen["weight_decay"],
                             "val_c"].iloc[0] == best


@pytest.mark.slow
def test_cutoffs_and_tuning_do_not_move_when_the_test_patients_change(run):
    data, (train, val, test, labels), _, result = run
    light = CONFIG.model_copy(update={"baselines": BaselineConfig(
        clinical_scores=False, cox_clinical=False, penalised_cox=False,
        random_survival_forest=False, single_modality=False, modality_subsets=False)})
    broken = _corrupt(data, test)
    again = validation.run_split(broken, split_id="ext-WX", train_ids=train, val_ids=val,
                                 test_ids=test, labels=labels, config=light)
    from hccfusion.pipeline.train import freeze_cutoffs

    fit_ids = list(train) + list(val)
    frozen = freeze_cutoffs(result.fitted, data, fit_ids)
    assert set(frozen) == {"os", "pfs"}
    assert freeze_cutoffs(again.fitted, broken, fit_ids) == frozen
    assert again.chosen == result.chosen
    pd.testing.assert_frame_equal(again.tuning.drop(columns="seconds"),
                                  result.tuning.drop(columns="seconds"))
    assert set(again.predictions["model"]) == {"multimodal"}


def test_run_split_refuses_a_test_patient_that_is_also_a_training_patient():
    from hccfusion.errors import UsageError

    data = synthetic_study(n=40, seed=4)
    ids = data.patient_ids
    train, val, test = ids[:24], ids[24:30], ids[29:]  # ids[29] is in val and test

    def reached(*_, **__):
        raise AssertionError("run_split started tuning on an overlapping split")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(validation, "tune_model", reached)
        with pytest.raises(UsageError, match=ids[29]):
            validation.run_split(data, split_id="bad", train_ids=train, val_ids=val,
                                 test_ids=test, labels=pd.Series("x", index=test),
                                 config=CONFIG)
