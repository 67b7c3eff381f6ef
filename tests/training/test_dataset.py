"""Assembly of the modelling data: targets, clinical / treatment / radiomics frames, StudyData."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.training.bags import PatientBag
from hccfusion.training.dataset import (
    CLINICAL_CATEGORICAL, CLINICAL_NUMERIC, MODALITIES, StudyData, clinical_frame,
    load_study_data, radiomics_frame, study_targets, treatment_frame,
)


def _survival() -> pd.DataFrame:
    rows = []
    for pid, os_t, os_e, pfs_t, pfs_e in (("A", 400, 1, 200, 1), ("B", 900, 0, 500, 1),
                                          ("C", 120, 1, 120, 1)):
        rows.append({"patient_id": pid, "endpoint": "OS", "criterion": "none", "time": os_t,
                     "event": os_e})
        rows.append({"patient_id": pid, "endpoint": "PFS", "criterion": "mrecist",
                     "time": pfs_t, "event": pfs_e})
        # a RECIST 1.1 PFS that must not be picked
        rows.append({"patient_id": pid, "endpoint": "PFS", "criterion": "recist11",
                     "time": 1.0, "event": 0})
    return pd.DataFrame(rows)


def _best_response() -> pd.DataFrame:
    return pd.DataFrame([
        {"patient_id": "A", "reader": "final", "criterion": "mrecist", "bor": "PR"},
        {"patient_id": "A", "reader": "reader1", "criterion": "mrecist", "bor": "PD"},
        {"patient_id": "A", "reader": "final", "criterion": "recist11", "bor": "SD"},
        {"patient_id": "B", "reader": "final", "criterion": "mrecist", "bor": "PD"},
        {"patient_id": "C", "reader": "final", "criterion": "mrecist", "bor": "NE"},
    ])


# --------------------------------------------------------------------------- targets

def test_study_targets_picks_os_mrecist_pfs_and_the_final_read():
    out = study_targets({"survival": _survival(), "best_response": _best_response()})
    assert out.index.name == "patient_id" and list(out.index) == ["A", "B", "C"]
    assert out["os_time"].tolist() == [400.0, 900.0, 120.0]
    assert out["os_event"].tolist() == [True, False, True]
    assert out["pfs_time"].tolist() == [200.0, 500.0, 120.0]  # not the RECIST 1.1 rows
    assert out["pfs_event"].dtype == bool and out["os_event"].dtype == bool
    # A: final mRECIST PR (not reader1's PD nor the RECIST call); C: NE → missing
    assert out.loc["A", "bor"] == 1.0 and out.loc["A", "orr"] == 1.0
    assert out.loc["B", "bor"] == 3.0 and out.loc["B", "orr"] == 0.0
    assert np.isnan(out.loc["C", "bor"]) and np.isnan(out.loc["C", "orr"])


def test_cr_is_a_response_and_sd_is_not():
    br = pd.DataFrame([{"patient_id": p, "reader": "final", "criterion": "mrecist", "bor": b}
                       for p, b in (("A", "CR"), ("B", "SD"), ("C", "PR"))])
    out = study_targets({"survival": _survival(), "best_response": br})
    assert out["bor"].tolist() == [0.0, 2.0, 1.0]
    assert out["orr"].tolist() == [1.0, 0.0, 1.0]


def test_a_patient_with_os_but_no_pfs_is_named():
    surv = _survival()
    surv = surv[~((surv["patient_id"] == "B") & (surv["endpoint"] == "PFS"))]
    with pytest.raises(DataError, match="patient B: OS is derived but PFS"):
        study_targets({"survival": surv, "best_response": _best_response()})


# --------------------------------------------------------------------------- clinical

def _patients() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["A", "B", "C"],
        "age_years": [61, 48, None],
        "sex": ["M", None, "F"],
        "pvtt": ["Vp3", "none", None],
        "etiology": ["HBV", "HCV", np.nan],
        "cirrhosis": [True, False, None],
        "center": ["WX", "NJ", "WX"], "cohort": ["retrospective"] * 3})


def _scores() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["C", "A", "B"],  # another order than the patients
        "albi": [-2.1, -2.6, "n/a"],
        "afp_ng_ml": [12.0, 3400.0, 8.0],
        "age_years": [70.0, 99.0, 99.0],  # scores win over patients
        "ascites": ["mild", "none", None]})


def test_clinical_frame_takes_scores_then_patients_then_nan():
    out = clinical_frame(_patients(), _scores())
    assert list(out.index) == ["A", "B", "C"]
    assert list(out.columns) == list(CLINICAL_NUMERIC) + list(CLINICAL_CATEGORICAL)
    assert out.loc["A", "albi"] == -2.6 and out.loc["C", "albi"] == -2.1
    assert np.isnan(out.loc["B", "albi"])  # "n/a" is coerced to missing
    assert out.loc["A", "afp_ng_ml"] == 3400.0
    assert out["age_years"].tolist() == [99.0, 99.0, 70.0]
    assert out["inr"].isna().all()  # in neither table
    for col in CLINICAL_NUMERIC:
        assert out[col].dtype == float, col


def test_pvtt_grade_is_parsed_from_the_vp_class():
    out = clinical_frame(_patients(), _scores())
    assert out.loc["A", "pvtt_grade"] == 3.0
    assert np.isnan(out.loc["B", "pvtt_grade"]) and np.isnan(out.loc["C", "pvtt_grade"])


def test_categoricals_are_strings_or_none():
    out = clinical_frame(_patients(), _scores())
    assert out["sex"].tolist() == ["M", None, "F"]
    assert out["etiology"].tolist() == ["HBV", "HCV", None]
    assert out["cirrhosis"].tolist() == ["True", "False", None]
    assert out["ascites"].tolist() == ["none", None, "mild"]
    assert out["hvtt"].tolist() == [None, None, None]


# --------------------------------------------------------------------------- treatment

def test_treatment_frame_takes_the_first_of_each_kind():
    t = pd.DataFrame([
        {"patient_id": "A", "kind": "HAIC", "agent": None, "start_date": "2021-03-01"},
        {"patient_id": "A", "kind": "TACE", "agent": None, "start_date": "2021-01-01"},
        {"patient_id": "A", "kind": "TKI", "agent": "sorafenib", "start_date": "2021-05-01"},
        {"patient_id": "A", "kind": "TKI", "agent": "lenvatinib", "start_date": "2021-01-05"},
        {"patient_id": "A", "kind": "PD1", "agent": "camrelizumab", "start_date": "2021-01-09"},
        {"patient_id": "B", "kind": "HAIC", "agent": None, "start_date": "2020-02-01"},
        {"patient_id": "B", "kind": "RFA", "agent": None, "start_date": "2019-02-01"},
    ])
    out = treatment_frame(t, pd.Index(["A", "B", "C"], name="patient_id"))
    assert list(out.columns) == ["ia_modality", "tki_agent", "pd1_agent"]
    assert out.loc["A"].tolist() == ["TACE", "lenvatinib", "camrelizumab"]
    assert out.loc["B"].tolist() == ["HAIC", None, None]  # RFA is not intra-arterial
    assert out.loc["C"].tolist() == [None, None, None]
    assert out.loc["B", "tki_agent"] is None


# --------------------------------------------------------------------------- radiomics

def _patient_radiomics() -> pd.DataFrame:
    return pd.DataFrame([
        {"patient_id": "A", "exam_id": "A-base", "phase": "arterial", "glcm_contrast": 1.0,
         "shape_volume": 10, "roi_label": "tumour", "is_ok": True},
        {"patient_id": "A", "exam_id": "A-base", "phase": "venous", "glcm_contrast": 2.0,
         "shape_volume": 11, "roi_label": "tumour", "is_ok": True},
        {"patient_id": "A", "exam_id": "A-fu", "phase": "arterial", "glcm_contrast": 99.0,
         "shape_volume": 99, "roi_label": "tumour", "is_ok": True},
        {"patient_id": "B", "exam_id": "B-base", "phase": "arterial", "glcm_contrast": 3.0,
         "shape_volume": 12, "roi_label": "tumour", "is_ok": False},
    ])


def test_radiomics_frame_keeps_the_baseline_exam_phases_side_by_side():
    base = pd.DataFrame({"patient_id": ["A", "B"], "exam_id": ["A-base", "B-base"]})
    out = radiomics_frame(_patient_radiomics(), base)
    assert list(out.index) == ["A", "B"]
    assert list(out.columns) == ["arterial__glcm_contrast", "arterial__shape_volume",
                                 "venous__glcm_contrast", "venous__shape_volume"]
    assert out.loc["A", "arterial__glcm_contrast"] == 1.0  # not the follow-up's 99
    assert out.loc["A", "venous__shape_volume"] == 11.0
    assert np.isnan(out.loc["B", "venous__glcm_contrast"])
    assert all(out[c].dtype == float for c in out.columns)


def test_radiomics_columns_do_not_depend_on_which_patients_are_in_the_table():
    pr = _patient_radiomics()
    pr.loc[pr["patient_id"] == "B", "glcm_contrast"] = np.nan
    base = pd.DataFrame({"patient_id": ["A", "B"], "exam_id": ["A-base", "B-base"]})
    both = radiomics_frame(pr, base)
    only_b = radiomics_frame(pr, base[base["patient_id"] == "B"])
    # B has an arterial phase only; its arterial features must all be there, NaN or not
    assert list(only_b.columns) == ["arterial__glcm_contrast", "arterial__shape_volume"]
    assert np.isnan(only_b.loc["B", "arterial__glcm_contrast"])
    assert "arterial__glcm_contrast" in both.columns


# --------------------------------------------------------------------------- StudyData

def _bag(pid: str, n: int = 3) -> PatientBag:
    return PatientBag(patient_id=pid, features=np.ones((n, 2), np.float32),
                      slide_index=np.zeros(n, np.int64), slide_ids=(f"{pid}-1",),
                      coords=np.zeros((n, 2), np.int64))


def _study(**kw) -> StudyData:
    idx = pd.Index(["A", "B", "C", "D"], name="patient_id")
    base = dict(
        patients=pd.DataFrame({"center": "WX", "cohort": "retrospective"}, index=idx),
        targets=pd.DataFrame({"os_time": [1.0, 2.0, 3.0, 4.0], "os_event": [True] * 4,
                              "pfs_time": [1.0, 2.0, 3.0, 4.0], "pfs_event": [False] * 4,
                              "orr": [1.0, 0.0, np.nan, 1.0], "bor": [1.0, 3.0, np.nan, 0.0]},
                             index=idx),
        clinical=pd.DataFrame({"albi": [1.0, 2.0, 3.0, 4.0]}, index=idx),
        treatment=pd.DataFrame({"ia_modality": ["TACE"] * 4}, index=idx))
    base.update(kw)
    return StudyData(**base)


def test_available_and_modalities():
    data = _study(radiomics=pd.DataFrame({"x": [1.0, 2.0]}, index=["B", "D"]),
                  pathology={"A": _bag("A"), "D": _bag("D")})
    assert data.modalities == ("clinical", "radiomics", "pathology")
    avail = data.available()
    assert list(avail.columns) == list(MODALITIES)
    assert avail["clinical"].all() and not avail["omics"].any()
    assert avail["radiomics"].tolist() == [False, True, False, True]
    assert avail["pathology"].tolist() == [True, False, False, True]
    assert _study().modalities == ("clinical",)


def test_subset_keeps_order_and_restricts_every_modality():
    data = _study(radiomics=pd.DataFrame({"x": [1.0, 2.0]}, index=["B", "D"]),
                  pathology={"A": _bag("A"), "D": _bag("D")},
                  omics=pd.DataFrame({"p": [0.1]}, index=["C"]),
                  scores=pd.DataFrame({"bclc_2022": list("ABCD")},
                                      index=pd.Index(list("ABCD"), name="patient_id")))
    sub = data.subset(["D", "B"])
    assert sub.patient_ids == ["D", "B"]
    assert list(sub.targets.index) == ["D", "B"] and list(sub.clinical.index) == ["D", "B"]
    assert set(sub.radiomics.index) == {"B", "D"}
    assert set(sub.pathology) == {"D"}
    assert sub.omics.empty
    assert sub.scores["bclc_2022"].tolist() == ["D", "B"]
    with pytest.raises(DataError, match="patients not in the study data: Z"):
        data.subset(["A", "Z"])


def test_outcomes_are_in_the_evaluation_vocabulary():
    out = _study().outcomes()
    assert list(out.columns) == ["patient_id", "os_time", "os_event", "pfs_time",
                                 "pfs_event", "orr"]
    assert out["patient_id"].tolist() == ["A", "B", "C", "D"]


# --------------------------------------------------------------------------- load_study_data

def _tables() -> dict[str, pd.DataFrame]:
    patients = _patients()
    patients.loc[len(patients)] = {"patient_id": "D", "age_years": 55, "sex": "M",
                                   "pvtt": None, "etiology": "HBV", "cirrhosis": True,
                                   "center": "NJ", "cohort": "prospective"}
    treatments = pd.DataFrame([
        {"patient_id": p, "kind": "TACE", "agent": None, "start_date": "2021-01-01"}
        for p in "ABCD"])
    return {"patients": patients, "treatments": treatments, "exams": pd.DataFrame()}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    import hccfusion.io.cohort as cohort_mod
    import hccfusion.io.exam_selection as exam_selection

    tables = _tables()
    monkeypatch.setattr(cohort_mod.Cohort, "load",
                        classmethod(lambda cls, path: SimpleNamespace(tables=tables)))
    monkeypatch.setattr(exam_selection, "select_exams", lambda exams, treatments, **_: pd.DataFrame(
        {"patient_id": ["A", "B"], "exam_id": ["A-base", "B-base"],
         "timepoint": ["baseline", "baseline"]}))
    ep = tmp_path / "endpoints"
    ep.mkdir()
    surv = _survival()
    d_rows = surv[surv["patient_id"] == "A"].assign(patient_id="D")
    pd.concat([surv, d_rows]).to_parquet(ep / "survival.parquet")
    _best_response().to_parquet(ep / "best_response.parquet")
    pd.DataFrame({"patient_id": list("ABCD"), "eligible": [True, True, False, True]}) \
        .to_parquet(ep / "eligibility.parquet")
    scores = _scores()
    scores["albi"] = pd.to_numeric(scores["albi"], errors="coerce")
    scores.loc[len(scores)] = {"patient_id": "D", "albi": -3.0, "afp_ng_ml": 1.0,
                               "age_years": 55.0, "ascites": "none"}
    scores["bclc_2022"] = ["B", "C", "A", "B"]
    scores.to_parquet(ep / "baseline_scores.parquet")
    rad = tmp_path / "features" / "imaging" / "radiomics" / "run1"
    rad.mkdir(parents=True)
    _patient_radiomics().to_parquet(rad / "patient_radiomics.parquet")
    om = tmp_path / "features" / "omics" / "rnaseq" / "run1"
    om.mkdir(parents=True)
    pd.DataFrame({"patient_id": ["A", "C", "D"], "sample_id": ["s1", "s2", "s3"],
                  "HALLMARK_X": [0.1, 0.2, 0.3], "HALLMARK_Y": [0, 1, 2]}) \
        .to_parquet(om / "pathway_scores.parquet")
    return tmp_path, tables


def test_load_study_data_joins_everything_for_the_eligible_patients(folders):
    root, _ = folders
    data = load_study_data(cohort=root / "cohort", endpoints=root / "endpoints",
                           features=root / "features")
    # C is not eligible; D has no best response row → orr / bor missing
    assert data.patient_ids == ["A", "B", "D"]
    assert list(data.patients.columns) == ["center", "cohort"]
    assert data.patients.loc["D", "cohort"] == "prospective"
    assert data.targets.loc["A", "orr"] == 1.0 and np.isnan(data.targets.loc["D", "orr"])
    assert list(data.clinical.index) == ["A", "B", "D"]
    assert data.clinical.loc["D", "albi"] == -3.0
    assert data.treatment["ia_modality"].tolist() == ["TACE"] * 3
    assert list(data.radiomics.index) == ["A", "B"]
    assert data.radiomics.loc["A", "arterial__glcm_contrast"] == 1.0
    assert list(data.omics.index) == ["A", "D"]  # C dropped (not eligible)
    assert list(data.omics.columns) == ["HALLMARK_X", "HALLMARK_Y"]  # sample_id dropped
    assert data.omics["HALLMARK_Y"].dtype == float
    assert data.pathology is None
    assert data.modalities == ("clinical", "radiomics", "omics")
    assert data.scores.loc["D", "bclc_2022"] == "B"
    specs = data.feature_specs
    assert specs["clinical"]["numeric"] == list(CLINICAL_NUMERIC)
    assert specs["radiomics"]["source"] == "run1" and specs["radiomics"]["n_columns"] == 4
    assert len(specs["radiomics"]["columns_sha256"]) == 64
    assert specs["omics"]["n_columns"] == 2


def test_load_study_data_without_eligibility_filter(folders):
    root, _ = folders
    data = load_study_data(cohort=root / "c", endpoints=root / "endpoints",
                           eligible_only=False)
    assert data.patient_ids == ["A", "B", "C", "D"]
    assert data.radiomics is None and data.omics is None


def test_load_study_data_scores_new_patients_without_targets(folders):
    root, _ = folders
    ep = root / "endpoints"
    (ep / "survival.parquet").unlink()
    (ep / "eligibility.parquet").unlink()
    data = load_study_data(cohort=root / "c", endpoints=ep, require_targets=False)
    assert data.patient_ids == ["A", "B", "C", "D"]
    assert data.targets[["os_time", "orr"]].isna().all().all()
    with pytest.raises(DataError, match="survival.parquet is missing"):
        load_study_data(cohort=root / "c", endpoints=ep)


def test_two_candidate_tables_must_be_named(folders):
    root, _ = folders
    other = root / "features" / "omics" / "rnaseq" / "run2"
    other.mkdir(parents=True)
    pd.DataFrame({"patient_id": ["A"], "HALLMARK_X": [0.0]}).to_parquet(
        other / "pathway_scores.parquet")
    with pytest.raises(UsageError, match="more than one omics pathway table"):
        load_study_data(cohort=root / "c", endpoints=root / "endpoints",
                        features=root / "features")
    data = load_study_data(cohort=root / "c", endpoints=root / "endpoints",
                           features=root / "features", omics=other / "pathway_scores.parquet")
    assert list(data.omics.index) == ["A"] and data.feature_specs["omics"]["source"] == "run2"
