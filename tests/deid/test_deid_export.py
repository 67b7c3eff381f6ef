"""The de-identified export: nothing identifying survives, intervals do."""

import json

import pandas as pd
import pytest

from hccfusion.deid.export import export_deidentified
from hccfusion.deid.pseudonym import date_offset_days, pseudonym
from hccfusion.errors import DataError, UsageError

ID_COLUMNS = ("patient_id", "exam_id", "sample_id", "slide_id", "lesion_id")


def _needles(tables):
    """Every identifier value, original ID and original date (in the spellings we know)."""
    out = set()
    pts = tables["patients"]
    for col in ("name", "phone", "national_id", "record_number"):
        out |= set(pts[col].dropna())
    for df in tables.values():
        for col in ID_COLUMNS:
            if col in df.columns:
                out |= set(df[col].dropna())
        for col in df.columns:
            if str(df[col].dtype).startswith("datetime"):
                for d in df[col].dropna():
                    out |= {d.strftime("%Y-%m-%d"), d.strftime("%Y/%m/%d"), d.strftime("%Y%m%d"),
                            f"{d.year}年{d.month}月{d.day}日"}
    out |= {"2023年2月20日", "2024年1月10日", "3月2日", "139-8765-4321"}  # dates/phones in notes
    return out


def _all_output_text(folder):
    """Raw bytes of every file, plus the decoded cells of every Parquet file."""
    blobs = {p.name: p.read_bytes() for p in folder.iterdir()}
    for p in folder.glob("*.parquet"):
        blobs[p.name + ":cells"] = pd.read_parquet(p).to_csv(index=False).encode("utf-8")
    return blobs


def test_no_identifier_original_id_or_original_date_anywhere(study_tables, key, tmp_path):
    out = tmp_path / "ipd"
    export_deidentified(study_tables, key=key, out=out)
    needles = _needles(study_tables)
    assert "张伟" in needles and "320102198001011234" in needles and "2023-03-01" in needles
    blobs = _all_output_text(out)
    assert len(blobs) == 8 * 2 + 2 + 8
    for name, data in blobs.items():
        for needle in needles:
            assert needle.encode("utf-8") not in data, f"{needle!r} leaked into {name}"
        assert key.secret not in data and key.secret.hex().encode() not in data


def test_free_text_is_scrubbed_and_study_codes_become_pseudonyms(study_tables, key, tmp_path):
    export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    notes = pd.read_csv(tmp_path / "ipd" / "patients.csv")["notes"].tolist()
    first = notes[[i for i, n in enumerate(notes) if isinstance(n, str) and "电话" in n][0]]
    assert "[REDACTED]" in first and "[DATE]" in first
    assert pseudonym(key, "WX-0001", namespace="patient_id") in first
    ae = pd.read_csv(tmp_path / "ipd" / "adverse_events.csv")["notes"].iloc[0]
    assert ae == "穿刺后疼痛，[DATE]缓解；联系[REDACTED]医生"  # another patient's name too


def test_identifier_and_path_columns_are_dropped(study_tables, key, tmp_path):
    rep = export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    cols = set(pd.read_parquet(tmp_path / "ipd" / "patients.parquet").columns)
    assert not cols & {"name", "phone", "national_id", "record_number"}
    assert "image_path" not in pd.read_parquet(tmp_path / "ipd" / "exams.parquet").columns
    assert "path" not in pd.read_parquet(tmp_path / "ipd" / "specimens.parquet").columns
    assert {"patients.name", "exams.image_path", "specimens.path"} <= set(rep.dropped_columns)


def test_same_key_same_pseudonyms_different_key_different(study_tables, key, other_key, tmp_path):
    a = export_deidentified(study_tables, key=key, out=tmp_path / "a")
    b = export_deidentified(study_tables, key=key, out=tmp_path / "b")
    c = export_deidentified(study_tables, key=other_key, out=tmp_path / "c")
    ids = {k: pd.read_parquet(r.out / "patients.parquet")["patient_id"].tolist()
           for k, r in (("a", a), ("b", b), ("c", c))}
    assert ids["a"] == ids["b"]
    assert not set(ids["a"]) & set(ids["c"])
    for k in ("a", "b"):
        exams = pd.read_parquet(tmp_path / k / "exams.parquet")
        assert set(exams["patient_id"]) <= set(ids[k])  # links across tables survive
    assert a.key_fingerprint == b.key_fingerprint != c.key_fingerprint


def test_intervals_within_a_patient_are_preserved(study_tables, key, tmp_path):
    export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    pid = pseudonym(key, "WX-0001", namespace="patient_id")
    tr = pd.read_parquet(tmp_path / "ipd" / "treatments.parquet")
    tr = tr.loc[tr["patient_id"] == pid].set_index("kind")
    labs = pd.read_parquet(tmp_path / "ipd" / "labs.parquet")
    fu = pd.read_parquet(tmp_path / "ipd" / "followup.parquet").set_index("patient_id")
    pts = pd.read_parquet(tmp_path / "ipd" / "patients.parquet").set_index("patient_id")
    tace = tr.loc["TACE", "start_date"]
    assert (tr.loc["TKI", "start_date"] - tace).days == 3
    assert (tace - labs.loc[labs["patient_id"] == pid, "date"].iloc[0]).days == 3
    assert (fu.loc[pid, "last_contact_date"] - tace).days == 315
    assert (tace - pts.loc[pid, "diagnosis_date"]).days == 71
    offset = date_offset_days(key, "WX-0001")
    assert tace == pd.Timestamp("2023-03-01") + pd.Timedelta(days=offset) and offset != 0
    # the same patient shifts by the same days in every table; another patient by its own
    other = pseudonym(key, "WX-0002", namespace="patient_id")
    assert (fu.loc[other, "death_date"] - pd.Timestamp("2023-09-30")).days == \
        date_offset_days(key, "WX-0002")


def test_age_above_89_is_top_coded_with_a_flag(study_tables, key, tmp_path):
    rep = export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    pts = pd.read_parquet(tmp_path / "ipd" / "patients.parquet")
    pts = pts.set_index("patient_id")
    old = pseudonym(key, "NJ-0001", namespace="patient_id")
    assert pts.loc[old, "age_years"] == 90 and bool(pts.loc[old, "age_top_coded"])
    young = pseudonym(key, "WX-0001", namespace="patient_id")
    assert pts.loc[young, "age_years"] == 58 and not pts.loc[young, "age_top_coded"]
    assert rep.n_age_top_coded == 1


def test_manifest_and_dictionary(study_tables, key, tmp_path):
    rep = export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    manifest = json.loads((tmp_path / "ipd" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["key_fingerprint"] == key.fingerprint
    assert manifest["tables"]["patients"]["rows"] == 3
    assert manifest["k_anonymity"]["min_k"] == rep.kanon.min_k == 1
    assert manifest["k_anonymity"]["n_records_below_threshold"] == 3
    dd = pd.read_csv(tmp_path / "ipd" / "data_dictionary.csv")
    row = dd.set_index(["table", "column"]).loc[("treatments", "start_date")]
    assert row["deidentification"] == "shifted by the patient's date offset"
    assert ("patients", "name") not in set(zip(dd["table"], dd["column"]))
    assert ("patients", "age_top_coded") in set(zip(dd["table"], dd["column"]))


def test_identifier_in_a_non_free_text_column_stops_the_export(study_tables, key, tmp_path):
    study_tables["adverse_events"].loc[0, "term"] = "Pain (张伟)"
    with pytest.raises(DataError, match=r"adverse_events\.term still contains") as err:
        export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    assert "张伟" not in str(err.value)
    assert not (tmp_path / "ipd").exists()


def test_unknown_columns_and_tables_are_not_exported(study_tables, key, tmp_path):
    study_tables["patients"] = study_tables["patients"].assign(wechat_id="zhangwei1980")
    study_tables["audit_log"] = pd.DataFrame({"who": ["x"]})
    rep = export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    assert "patients.wechat_id" in rep.dropped_columns and rep.skipped_tables == ("audit_log",)
    assert not (tmp_path / "ipd" / "audit_log.csv").exists()
    assert b"zhangwei1980" not in (tmp_path / "ipd" / "patients.csv").read_bytes()


def test_refuses_non_empty_output_folder(study_tables, key, tmp_path):
    (tmp_path / "ipd").mkdir()
    (tmp_path / "ipd" / "old.csv").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        export_deidentified(study_tables, key=key, out=tmp_path / "ipd")
    export_deidentified(study_tables, key=key, out=tmp_path / "ipd", overwrite=True)


def test_requires_a_key_object_and_patients(study_tables, key, tmp_path):
    with pytest.raises(UsageError, match="DeidKey"):
        export_deidentified(study_tables, key=b"x" * 32, out=tmp_path / "a")
    del study_tables["patients"]
    with pytest.raises(DataError, match="patients table is required"):
        export_deidentified(study_tables, key=key, out=tmp_path / "b")


def test_leak_check_finds_exactly_the_cells_a_substring_search_finds():
    import random

    from hccfusion.deid.export import _contains_any

    rng = random.Random(3)
    alphabet = "ab王伟-01 X"
    for _ in range(300):
        cells = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                 for _ in range(rng.randint(0, 4))]
        needles = {"".join(rng.choice(alphabet) for _ in range(rng.randint(2, 14)))
                   for _ in range(rng.randint(0, 5))}
        expected = any(n in cell for cell in cells for n in needles)
        assert _contains_any(cells, needles) is expected, (cells, needles)
