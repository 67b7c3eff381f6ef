"""CRF tables rendered from the truth: canonical, consistent with the truth and the rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.io.schema import LAB_BY_CODE, TABLES, table_columns
from hccfusion.io.schema.units import conversion_factor
from hccfusion.simulate.crf_identity import national_id_check
from hccfusion.simulate.response_rules import series_categories


def test_eight_canonical_tables(tables_small):
    assert list(tables_small) == list(TABLES)
    for name, t in tables_small.items():
        assert tuple(t.columns) == table_columns(name)
        key = list(TABLES[name].key)
        assert not t.duplicated(subset=key).any(), name
        for f in TABLES[name].fields:
            if f.required:
                assert t[f.name].notna().all(), (name, f.name)
            if f.codes and f.kind.value == "code":
                assert t[f.name].dropna().isin(f.codes).all(), (name, f.name)


def test_identifiers_look_real(tables_small, truth_small):
    p = tables_small["patients"].merge(truth_small.latent[["patient_id", "t0"]], on="patient_id")
    assert p["national_id"].str.fullmatch(r"\d{17}[\dX]").all()
    assert all(national_id_check(i[:17]) == i[17] for i in p["national_id"])
    male_digit = p["national_id"].str[16].astype(int) % 2 == 1
    assert (male_digit == (p["sex"] == "M")).all()
    birth = pd.to_datetime(p["national_id"].str[6:14])
    age = ((p["t0"] - birth).dt.days / 365.25).astype(int)
    assert (age == p["age_years"].astype(int)).all()
    assert p["phone"].dropna().str.fullmatch(r"1\d{10}").all()
    assert p["name"].str.len().between(2, 3).all()


def test_lab_units_per_centre_and_crafity_survives_conversion(tables_small, truth_small):
    labs = tables_small["labs"].merge(tables_small["patients"][["patient_id", "center"]])
    nj = labs[labs["center"] == "NJ"]
    assert set(nj.loc[nj["test"] == "bilirubin", "unit"]) == {"mg/dL"}
    assert set(nj.loc[nj["test"] == "albumin", "unit"]) == {"g/dL"}
    assert set(nj.loc[nj["test"] == "crp", "unit"]) == {"mg/dL"}
    assert set(labs.loc[labs["center"] == "WX"].query("test == 'crp'")["unit"]) == {"mg/L"}
    factor = [conversion_factor(t, u) for t, u in zip(labs["test"], labs["unit"])]
    si = labs["value"] * np.asarray(factor, float)
    for test, (lo, hi) in ((t, LAB_BY_CODE[t].hard) for t in LAB_BY_CODE):
        v = si[labs["test"] == test]
        assert v.between(lo, hi).all(), test
    first = labs.assign(si=si).sort_values("date").groupby(["patient_id", "test"])["si"].first().unstack()
    lat = truth_small.latent.set_index("patient_id")
    crafity = (first["afp"] >= 100).astype(int) + (first["crp"] >= 10).astype(int)
    assert (crafity.to_numpy() == lat.loc[crafity.index, "crafity"].to_numpy()).mean() > 0.97  # rounding at the edges


def test_dates_follow_cross_table_rules(tables_small, truth_small):
    t = tables_small
    tr = t["treatments"]
    t0 = tr[tr["kind"] != "other_anticancer"].groupby("patient_id")["start_date"].min()
    lat = truth_small.latent.set_index("patient_id")
    assert (t0.to_numpy() == lat.loc[t0.index, "t0"].to_numpy()).all()
    fu = t["followup"].set_index("patient_id")
    death = fu["death_date"]
    end = death.fillna(fu["last_contact_date"])
    for name, col in (("labs", "date"), ("treatments", "start_date"), ("exams", "date"),
                      ("adverse_events", "onset_date"), ("specimens", "date")):
        df = t[name]
        d = df["patient_id"].map(death)
        assert not (d.notna() & (df[col] > d)).any(), name
    assert (tr["end_date"].isna() | (tr["end_date"] >= tr["start_date"])).all()
    assert (fu["last_contact_date"] <= death.fillna(fu["last_contact_date"])).all()
    last_exam = t["exams"].groupby("patient_id")["date"].max()
    assert (fu.loc[last_exam.index, "last_contact_date"].to_numpy() >= last_exam.to_numpy()).all()
    base = t["exams"][t["exams"]["exam_id"].str.endswith("E01")].set_index("patient_id")["date"]
    gap = pd.Series(lat.loc[base.index, "t0"].to_numpy() - base.to_numpy()).dt.days
    assert gap.between(1, 28).all()
    ae = t["adverse_events"]
    assert (ae["resolution_date"].isna() | (ae["resolution_date"] >= ae["onset_date"])).all()
    biopsy = t["specimens"][t["specimens"]["kind"] == "biopsy_wsi"].groupby("patient_id")["date"].min()
    bae = ae[ae["procedure"] == "biopsy"]
    delay = (bae["onset_date"] - bae["patient_id"].map(biopsy)).dt.days
    assert delay.between(0, 7).all()
    p = t["patients"].set_index("patient_id")
    pro = p[p["cohort"] == "prospective"]
    first = pd.concat([t0, biopsy], axis=1).min(axis=1)
    assert (pro["consent_date"] <= first.loc[pro.index]).all()
    assert (p["diagnosis_date"] <= first.loc[p.index]).all()
    assert end.notna().all()


def test_bclc_consistent_with_ecog_and_vascular_invasion(tables_small):
    p = tables_small["patients"]
    early = p["bclc"].isin(["0", "A", "B"])
    assert not (early & (p["ecog"] >= 1)).any()
    assert not (early & (p["pvtt"] != "Vp0")).any()
    assert not (early & p["extrahepatic_spread"]).any()


def test_reader_diameters_agree_with_truth(tables_small, truth_small):
    reads = tables_small["lesion_reads"]
    truth = truth_small.lesion_exams
    targets = reads[reads["kind"] == "target"].merge(
        truth[["exam_id", "lesion_id", "viable_mm", "diameter_mm"]], on=["exam_id", "lesion_id"])
    for reader in ("R1", "R2"):
        r = targets[(targets["reader"] == reader) & (targets["viable_mm"] > 0)]
        err = r["viable_diameter_mm"] - r["viable_mm"]
        assert err.abs().median() < 4.0
        assert np.corrcoef(r["viable_diameter_mm"], r["viable_mm"])[0, 1] > 0.98
        assert np.corrcoef(r["longest_diameter_mm"], r["diameter_mm"])[0, 1] > 0.98
    mdt = targets[targets["reader"] == "MDT"]
    assert np.allclose(mdt["viable_diameter_mm"], mdt["viable_mm"])
    assert (reads["viable_diameter_mm"].isna() | reads["longest_diameter_mm"].isna()
            | (reads["viable_diameter_mm"] <= reads["longest_diameter_mm"])).all()
    assert set(reads.loc[reads["organ"] == "vessel", "kind"]) <= {"non_target"}


def _reader_categories(reads: pd.DataFrame, reader: str) -> dict[str, str]:
    out = {}
    for pid, g in reads[reads["reader"] == reader].groupby("patient_id"):
        exams = sorted(g["exam_id"].unique())
        sums = [g[(g["exam_id"] == e) & (g["kind"] == "target")]["viable_diameter_mm"].sum() for e in exams]
        nt = [list(g[(g["exam_id"] == e) & (g["kind"] == "non_target")]["nontarget_status"]) for e in exams]
        new = [bool((g[g["exam_id"] == e]["kind"] == "new").any()) for e in exams]
        out.update(zip(exams, series_categories(sums=sums, nontarget=nt, new_lesion=new, recist=False)))
    return out


def test_mdt_only_where_readers_disagree(tables_small):
    reads = tables_small["lesion_reads"]
    c1, c2 = _reader_categories(reads, "R1"), _reader_categories(reads, "R2")
    disagree = {e for e in c1 if c1[e] != c2[e]}
    mdt = set(reads.loc[reads["reader"] == "MDT", "exam_id"])
    assert mdt == disagree
    assert 0 < len(disagree) < 0.25 * len(c1)  # occasional, not constant


def test_exams_follow_schedule_and_new_lesions_at_progression(tables_small, truth_small):
    ex = tables_small["exams"].sort_values(["patient_id", "date"])
    gaps = ex.groupby("patient_id")["date"].diff().dt.days.dropna()
    assert gaps.min() >= 42
    assert ex["exam_id"].str.fullmatch(r"(WX|NJ)-\d{4}-E\d{2}").all()
    new = tables_small["lesion_reads"].query("kind == 'new'")["exam_id"].unique()
    prog = truth_small.exams.query("mrecist == 'PD'")["exam_id"]
    assert set(new) <= set(prog)


def test_specimens_follow_protocol(tables_small):
    s = tables_small["specimens"].merge(tables_small["patients"][["patient_id", "cohort"]])
    wsi = s[s["kind"] == "biopsy_wsi"]
    assert set(wsi["patient_id"]) == set(tables_small["patients"]["patient_id"])
    assert wsi["slide_id"].notna().all()
    assert set(s.loc[s["cohort"] == "retrospective", "kind"]) == {"biopsy_wsi"}
    blood = s[s["kind"] == "blood"]
    assert set(blood["site"]) == {"hepatic_artery_blood", "hepatic_vein_blood"}
    assert (blood["fate"] == "destroyed").all() and (wsi["fate"] == "preserved").all()
