"""The pipeline's cut-off step of ``hccfusion train``: the median risk cut-off is frozen on a
split's training patients and applied to the multimodal model's test predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from hccfusion.evaluation.cutoffs import MedianCutoff, cutoff_from_dict  # noqa: E402
from hccfusion.pipeline import train as pipeline_train  # noqa: E402
from tests.training.test_loop import synthetic_study  # noqa: E402


def test_cutoff_is_the_median_training_risk(monkeypatch):
    # freeze_cutoffs on a fake fit: the cut-off splits the training patients' risks, whatever
    # the other patients hold
    import hccfusion.training.loop as loop

    data = synthetic_study(n=40, seed=3)
    ids = data.patient_ids
    risk = pd.Series(np.arange(40, dtype=float), index=ids)
    seen: list[list[str]] = []

    def fake_predict(fitted, data, ids, **_):
        seen.append(list(ids))
        return pd.DataFrame({"patient_id": ids, "risk_os": risk.loc[ids].to_numpy(),
                             "risk_pfs": -risk.loc[ids].to_numpy()})

    monkeypatch.setattr(loop, "predict_frame", fake_predict)
    cut = pipeline_train.freeze_cutoffs(None, data, ids[:20])
    assert seen == [ids[:20]]
    assert set(cut) == {"os", "pfs"}
    groups = cutoff_from_dict(cut["os"]).transform(np.arange(20, dtype=float))
    assert list(groups).count("high") in (9, 10, 11)
    assert list(groups[:9]) == ["low"] * 9 and list(groups[11:]) == ["high"] * 9
    assert cut["os"]["n_train"] == 20 and cut["os"]["kind"] == "median"


def _predictions() -> pd.DataFrame:
    rows = []
    for model in ("multimodal", "cox:clinical"):
        for endpoint in ("os", "pfs", "orr"):
            for i, r in enumerate((0.1, 0.9, np.nan)):
                rows.append({"model": model, "split_id": "s", "cohort_label": "x",
                             "patient_id": f"P{i}", "endpoint": endpoint, "risk": r,
                             "surv_prob_365": 0.5})
    return pd.DataFrame(rows)


def test_add_risk_groups_labels_only_the_model_survival_rows():
    fit = MedianCutoff().fit(time=np.arange(1.0, 11.0), event=np.ones(10, bool),
                             risk=np.linspace(0, 1, 10))
    cutoffs = {"os": fit.to_dict(), "pfs": fit.to_dict()}
    out = pipeline_train.add_risk_groups(_predictions(), cutoffs)
    assert list(out.columns) == ["model", "split_id", "cohort_label", "patient_id", "endpoint",
                                 "risk", "risk_group", "surv_prob_365"]
    main = out[(out["model"] == "multimodal") & out["endpoint"].isin(["os", "pfs"])]
    assert list(main["risk_group"]) == ["low", "high", None] * 2
    rest = out.drop(index=main.index)
    assert rest["risk_group"].isna().all()
    assert not any(v is None for v in rest["risk_group"])  # NaN, as a concat of frames gives
    pd.testing.assert_frame_equal(out.drop(columns="risk_group"), _predictions())
