"""DICOM de-identification (hccfusion.deid.dicom) on real headers from pydicom's test files and a
simulated CT series: no original identifier or UID survives, Pixel Data is byte-identical,
references between files stay consistent, dates move by the patient's offset."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pandas as pd
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.datadict import keyword_for_tag  # noqa: E402
from pydicom.uid import UID_dictionary  # noqa: E402

from hccfusion.deid.dicom import deidentify_dicom  # noqa: E402
from hccfusion.deid.dicom_profile import (  # noqa: E402
    _TABLE_E11,
    BASIC_PROFILE,
    is_clean_descriptor,
    remap_uid,
    shift_da,
    shift_dt,
    standard_action,
    top_code_age,
)
from hccfusion.deid.export import export_deidentified  # noqa: E402
from hccfusion.deid.pseudonym import DeidKey, date_offset_days, pseudonym  # noqa: E402
from hccfusion.errors import UsageError  # noqa: E402
from tests.deid.conftest import _tables  # noqa: E402

KEY = DeidKey(bytes(range(32)))
SIM_PATIENT = "WX-0001"
PHI_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs",
                "InstitutionName", "InstitutionAddress", "AccessionNumber",
                "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
                "NameOfPhysiciansReadingStudy", "StationName", "StudyID", "StudyDate",
                "SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate")


def _sim_truth() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": SIM_PATIENT, "lesion_id": ["L1"], "diameter_mm_baseline": [40.0],
        "diameter_mm_followup": [30.0], "viable_mm_baseline": [40.0],
        "viable_mm_followup": [20.0], "necrosis_fraction_baseline": [0.2],
        "necrosis_fraction_followup": [0.5], "arterial_enhancement_hu": [70.0],
        "washout": [True], "margin_irregularity": [0.2]})


def _link_to_ct(ct, rtstruct, seg) -> None:
    """Point the RT Structure Set and the Segmentation at the CT (same patient and study)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    for ds in (rtstruct, seg):
        ds.PatientID, ds.PatientName = ct.PatientID, ct.PatientName
        ds.StudyInstanceUID = ct.StudyInstanceUID
    frame = rtstruct.ReferencedFrameOfReferenceSequence[0]
    frame.FrameOfReferenceUID = ct.FrameOfReferenceUID
    study = frame.RTReferencedStudySequence[0]
    study.ReferencedSOPInstanceUID = ct.StudyInstanceUID
    series = study.RTReferencedSeriesSequence[0]
    series.SeriesInstanceUID = ct.SeriesInstanceUID
    image = Dataset()
    image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
    series.ContourImageSequence = Sequence([image])
    for roi in rtstruct.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = ct.FrameOfReferenceUID
    seg.FrameOfReferenceUID = ct.FrameOfReferenceUID
    seg.ReferencedSeriesSequence[0].SeriesInstanceUID = ct.SeriesInstanceUID
    for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence:
        item.ReferencedSOPInstanceUID = ct.SOPInstanceUID
    for frame in seg.PerFrameFunctionalGroupsSequence:
        for source in frame.DerivationImageSequence[0].SourceImageSequence:
            source.ReferencedSOPInstanceUID = ct.SOPInstanceUID


def _walk_values(ds, out: list) -> list:
    """Every (tag, value string) of ``ds``, sequences and file meta included."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _walk_values(item, out)
        elif elem.tag != 0x7FE00010 and not elem.VR.startswith("O"):
            values = list(elem.value) if elem.VM > 1 else [elem.value]
            out.extend((int(elem.tag), str(v)) for v in values)
    return out


def _original_uids(ds) -> set[str]:
    values = _walk_values(ds, []) + _walk_values(getattr(ds, "file_meta", []), [])
    return {v for tag, v in values if v and _is_uid_tag(tag) and v not in UID_dictionary}


def _is_uid_tag(tag: int) -> bool:
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag) == "UI"
    except KeyError:
        return False


def _phi(ds) -> set[str]:
    found: set[str] = set()
    for kw in PHI_KEYWORDS:
        if kw in ds and ds[kw].value not in (None, ""):
            elem = ds[kw]
            for v in (list(elem.value) if elem.VM > 1 else [elem.value]):
                text = str(v).strip()
                found.add(text)
                found.update(p for p in text.split("^"))
    return {v for v in found if len(v) >= 4}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from hccfusion.simulate.ct import write_ct_exam

    root = tmp_path_factory.mktemp("dicom")
    src = root / "in"
    (src / "site" / "ct").mkdir(parents=True)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rtstruct = pydicom.dcmread(get_testdata_file("rtstruct.dcm"), force=True)
    seg = pydicom.dcmread(get_testdata_file("liver_1frame.dcm"))
    _link_to_ct(ct, rtstruct, seg)
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "site" / "ct" / "ct.dcm")
    rtstruct.save_as(src / "site" / "rtstruct.dcm")  # no preamble, no file meta: as read
    seg.save_as(src / "site" / "seg.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "site" / "mr.dcm")
    shutil.copy(get_testdata_file("examples_rgb_color.dcm"), src / "site" / "us.dcm")
    (src / "site" / "notes.txt").write_text("not an image\n")
    broken = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    broken.SOPInstanceUID = "1.2.3.4.5.6.7.8.9"
    broken.save_as(root / "whole.dcm")
    (src / "site" / "truncated.dcm").write_bytes((root / "whole.dcm").read_bytes()[:-1000])
    sim = write_ct_exam(out_dir=src / "sim", patient_id=SIM_PATIENT, exam_id="WX-0001-CT0",
                        exam_date=datetime.date(2023, 3, 1), lesions=_sim_truth(),
                        timepoint="baseline", center="WX", seed=7, formats=("dicom",))
    inputs = {p: pydicom.dcmread(p, force=True) for p in sorted(src.rglob("*.dcm"))
              if p.name != "truncated.dcm"}
    report = deidentify_dicom(src=src, out=root / "out", key=KEY)
    outputs = {src / rel: pydicom.dcmread(root / "out" / new)
               for rel, new in report.path_map.items()}
    return dict(src=src, out=root / "out", report=report, inputs=inputs, outputs=outputs,
                sim=sim, ct=src / "site" / "ct" / "ct.dcm")


def test_profile_table_tags_exist_and_match_the_standard_for_known_attributes():
    assert len(BASIC_PROFILE) == sum(len(v.split()) for v in _TABLE_E11.values())  # no repeats
    assert all(keyword_for_tag(tag) for tag in BASIC_PROFILE), "a tag missing from PS3.6"
    expected = {"PatientName": "Z", "PatientID": "Z", "AccessionNumber": "Z",
                "PatientBirthDate": "Z", "StudyInstanceUID": "U", "SOPInstanceUID": "U",
                "InstitutionName": "X/Z/D", "OtherPatientIDs": "X", "SeriesDescription": "X",
                "ReferencedImageSequence": "X/Z/U*", "ContentDate": "Z/D",
                "StructureSetLabel": "D", "FrameOfReferenceUID": "U"}
    from pydicom.datadict import tag_for_keyword

    assert {kw: standard_action(tag_for_keyword(kw)) for kw in expected} == expected
    assert standard_action(0x60003000) == "X" and standard_action(0x50020010) == "X"
    assert standard_action(0x00280010) is None  # Rows: not in the table, kept


def test_uid_remap_is_keyed_deterministic_and_valid():
    a = remap_uid(KEY, "1.2.3.4")
    assert a == remap_uid(KEY, "1.2.3.4") != remap_uid(KEY, "1.2.3.5")
    assert a != remap_uid(DeidKey(bytes(range(1, 33))), "1.2.3.4")
    assert a.startswith("2.25.") and len(a) <= 64 and a[5:].isdigit() and a[5] != "0"


def test_dates_and_ages():
    assert shift_da("20230301", -10) == "20230219" and shift_da("2023", 5) == ""
    assert shift_dt("20231231235959.5+0800", 1) == "20240101235959.5+0800"
    assert [top_code_age(a) for a in ("089Y", "090Y", "095Y", "120D")] == \
        ["089Y", "090Y", "090Y", "120D"]


@pytest.mark.parametrize(("text", "kept"), [
    ("ART 6mm", True), ("CT ABDOMEN LIVER MULTIPHASE", True), ("PV70s", True),
    ("上腹部增强CT 动脉期", True), ("Omnipaque 350", True), ("王静 动脉期", False),
    ("JOHN SMITH ART", False), ("ZY20230145", False), ("LIVER 20230301", False)])
def test_clean_descriptors_keep_only_acquisition_words(text, kept):
    assert is_clean_descriptor(text) is kept


def test_no_original_identifier_or_uid_survives(run):
    n_sim = sum(1 for p in run["inputs"] if "sim" in p.parts)
    assert n_sim > 20 and run["report"].n_files == len(run["inputs"]) == n_sim + 5
    for path, original in run["inputs"].items():
        new = run["outputs"][path]
        raw = (run["out"] / run["report"].path_map[path.relative_to(run["src"]).as_posix()]
               ).read_bytes()
        values = {v.casefold() for _, v in _walk_values(new, [])
                  + _walk_values(new.file_meta, [])}
        for needle in _phi(original) | _original_uids(original):
            assert not any(needle.casefold() in v for v in values), (path.name, needle)
            assert needle.encode() not in raw, (path.name, needle)
        assert not any(elem.tag.is_private for elem in new.iterall())
        assert new.PatientIdentityRemoved == "YES"
        assert [c.CodeValue for c in new.DeidentificationMethodCodeSequence] == \
            ["113100", "113107", "113108", "113105"]
    manifest = (run["out"] / "manifest.json").read_text().casefold()
    for original in run["inputs"].values():
        assert not any(n.casefold() in manifest for n in _phi(original) | _original_uids(original))


def test_pixel_data_is_byte_identical_and_classes_are_kept(run):
    for path, original in run["inputs"].items():
        new = run["outputs"][path]
        assert new.SOPClassUID == original.SOPClassUID
        if "PixelData" in original:
            assert new.PixelData == original.PixelData, path.name
        syntax = original.file_meta.get("TransferSyntaxUID") if original.file_meta else None
        assert new.file_meta.TransferSyntaxUID == (syntax or "1.2.840.10008.1.2")
        assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID


def test_references_between_files_remap_consistently(run):
    site = run["src"] / "site"
    ct, rt, seg = (run["outputs"][site / n] for n in ("ct/ct.dcm", "rtstruct.dcm", "seg.dcm"))
    original_ct = pydicom.dcmread(run["ct"])
    assert ct.SOPInstanceUID == remap_uid(KEY, original_ct.SOPInstanceUID)
    frame = rt.ReferencedFrameOfReferenceSequence[0]
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert frame.FrameOfReferenceUID == ct.FrameOfReferenceUID == seg.FrameOfReferenceUID
    assert frame.RTReferencedStudySequence[0].ReferencedSOPInstanceUID == ct.StudyInstanceUID
    assert series.SeriesInstanceUID == ct.SeriesInstanceUID
    assert series.ContourImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert rt.StudyInstanceUID == seg.StudyInstanceUID == ct.StudyInstanceUID
    refs = seg.ReferencedSeriesSequence[0]
    assert refs.SeriesInstanceUID == ct.SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in refs.ReferencedInstanceSequence} == \
        {ct.SOPInstanceUID}
    sources = {s.ReferencedSOPInstanceUID for f in seg.PerFrameFunctionalGroupsSequence
               for s in f.DerivationImageSequence[0].SourceImageSequence}
    assert sources == {ct.SOPInstanceUID}
    paths = {run["report"].path_map[f"site/{n}"].rsplit("/", 2)[0]
             for n in ("ct/ct.dcm", "rtstruct.dcm", "seg.dcm")}
    assert len(paths) == 1  # one patient, one study folder


def test_dates_shift_by_the_patients_offset_and_times_are_kept(run):
    for path, original in run["inputs"].items():
        new = run["outputs"][path]
        pid = str(original.PatientID)
        offset = date_offset_days(KEY, pid)
        for kw in ("StudyDate", "SeriesDate", "ContentDate", "InstanceCreationDate"):
            value = original.get(kw)
            if value:
                expected = datetime.datetime.strptime(value, "%Y%m%d") + datetime.timedelta(offset)
                assert new.get(kw) == expected.strftime("%Y%m%d"), (path.name, kw)
        if original.get("StudyTime"):
            assert new.StudyTime == original.StudyTime
        assert new.get("PatientBirthDate", "") == ""
        assert new.LongitudinalTemporalInformationModified == "MODIFIED"


def test_patient_id_equals_the_tabular_export_pseudonym(run, tmp_path):
    sim_files = [p for p in run["outputs"] if "sim" in p.parts]
    assert len(sim_files) == sum(1 for p in run["inputs"] if "sim" in p.parts)
    ids = {run["outputs"][p].PatientID for p in sim_files}
    export = export_deidentified(_tables(), key=KEY, out=tmp_path / "ipd", k_threshold=1)
    exported = set(pd.read_csv(export.out / "patients.csv")["patient_id"])
    assert ids == {pseudonym(KEY, SIM_PATIENT, namespace="patient_id")}
    assert ids <= exported
    assert all(run["outputs"][p].PatientName == next(iter(ids)) for p in sim_files)
    # the phase stays readable (Clean Descriptors): "ART 6mm" / "PV 6mm"
    assert {run["outputs"][p].SeriesDescription for p in sim_files} == \
        {run["inputs"][p].SeriesDescription for p in sim_files}


def test_bad_files_are_reported_and_the_rest_written(run):
    problems = {p.path: p.reason for p in run["report"].problems}
    site = {k: v for k, v in problems.items() if k.startswith("site/")}
    assert site == {"site/notes.txt": "not a DICOM file",
                    "site/truncated.dcm": "truncated DICOM: element (7FE0,0010) is cut short"}
    sim = {k.rsplit("/", 1)[1]: v for k, v in problems.items() if k.startswith("sim/")}
    assert sim == dict.fromkeys(["lesion_labels.json", "lesion_labels.nii.gz",
                                 "liver_mask.nii.gz"], "not a DICOM file")
    assert not any(Path(new).parts[0] == "site" for new in run["report"].path_map.values())


def test_output_paths_hold_no_identifier_and_series_are_numbered(run):
    report = run["report"]
    sim_series = sorted({new.rsplit("/", 1)[0] for rel, new in report.path_map.items()
                         if rel.startswith("sim/")})
    alias = pseudonym(KEY, SIM_PATIENT, namespace="patient_id")
    assert sim_series == [f"{alias}/study01/series001", f"{alias}/study01/series002"]
    for new in report.path_map.values():
        assert SIM_PATIENT not in new and "WX" not in new and new.endswith(".dcm")
    arterial = len(list((run["src"] / "sim" / run["sim"].arterial_dicom_dir).glob("*.dcm")))
    assert [s.n_instances for s in report.series if s.folder in sim_series] == [arterial] * 2


def test_burned_in_annotation_is_flagged_for_modalities_at_risk(run):
    by_modality = {s.modality: s for s in run["report"].series}
    assert by_modality["US"].flagged and by_modality["US"].burned_in == "missing"
    assert not by_modality["CT"].flagged
    assert run["report"].flagged_series == (by_modality["US"],)


def test_an_unknown_patient_is_reported_without_its_identifier(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "in" / "a.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "in" / "b.dcm")
    report = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "out", key=KEY,
                              id_map={"4MR1": "NJ-0002"})
    assert report.problems[0].path == "a.dcm" and "1CT1" not in report.problems[0].reason
    assert report.n_files == 1
    new = pydicom.dcmread(tmp_path / "out" / report.path_map["b.dcm"])
    assert new.PatientID == pseudonym(KEY, "NJ-0002", namespace="patient_id")


def test_usage_errors(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("")
    with pytest.raises(UsageError, match="is not empty"):
        deidentify_dicom(src=tmp_path / "in", out=tmp_path / "out", key=KEY)
    with pytest.raises(UsageError, match="'src' parameter of deidentify_dicom"):
        deidentify_dicom(src=tmp_path / "none", out=tmp_path / "o2", key=KEY)
    with pytest.raises(UsageError, match="'key' parameter"):
        deidentify_dicom(src=tmp_path / "in", out=tmp_path / "o2", key=b"0" * 32)
    with pytest.raises(UsageError, match="outside the input"):
        deidentify_dicom(src=tmp_path / "in", out=tmp_path / "in" / "o", key=KEY)
    report = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "out", key=KEY, overwrite=True)
    assert report.n_files == 0 and report.problems == ()


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "CT_small.dcm"])
def test_truncated_files_are_reported_whatever_the_encoding(tmp_path, name):
    (tmp_path / "in").mkdir()
    raw = Path(get_testdata_file(name)).read_bytes()
    (tmp_path / "in" / "cut.dcm").write_bytes(raw[: len(raw) - 500])
    report = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "out", key=KEY)
    assert report.n_files == 0
    assert report.problems[0].path == "cut.dcm"
    assert report.problems[0].reason.startswith("truncated DICOM")


def test_overlays_private_tags_and_burned_in_yes(tmp_path):
    (tmp_path / "in").mkdir()
    ds = pydicom.dcmread(get_testdata_file("examples_overlay.dcm"))
    assert 0x60003000 in ds
    ds.BurnedInAnnotation = "YES"
    ds.private_block(0x0099, "HOSPITAL", create=True).add_new(0x01, "LO", "ZHANG^WEI")
    ds.save_as(tmp_path / "in" / "mr.dcm")
    report = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "out", key=KEY)
    new = pydicom.dcmread(tmp_path / "out" / report.path_map["mr.dcm"])
    assert 0x60003000 not in new and not any(e.tag.is_private for e in new.iterall())
    assert b"ZHANG" not in (tmp_path / "out" / report.path_map["mr.dcm"]).read_bytes()
    assert new.PixelData == ds.PixelData
    assert report.series[0].burned_in == "YES" and report.series[0].flagged
    assert report.n_private_removed >= 2  # the private creator and its element


def test_attribute_actions_on_one_dataset():
    """Each rule of the profile, on a data set without the final leak check."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from hccfusion.deid.dicom_profile import CleanStats, clean_dataset

    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "ZHANG^WEI", "ZY20230145", "19550315"
    ds.PatientAge, ds.PatientSex, ds.PatientWeight = "095Y", "M", "61.5"
    ds.EthnicGroup, ds.OtherPatientIDs = "HAN", "320102195503151234"
    ds.InstitutionName, ds.StationName = "Wuxi People's Hospital", "CT01"
    ds.RequestedProcedureDescription = "ZHANG WEI liver"
    ds.ProtocolName = "Dr WANG protocol"
    ds.SeriesDescription, ds.StudyDescription = "PV 5mm", "ZHANG liver"
    ds.AcquisitionDate, ds.StudyTime, ds.ContrastBolusStartTime = "20230301", "101500", "101420"
    ds.AcquisitionDateTime = "20230301101530.5"
    ds.StructureSetLabel = "sep30"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5"
    ds.add_new(0x00142006, "PN", "LI^NA")  # Evaluator Name: a PN outside Table E.1-1
    ds.add_new(0x00231001, "LO", "private")
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4.5"
    ds.ReferencedImageSequence = Sequence([ref])
    ds.ReferencedStudySequence = Sequence([Dataset()])
    stats = CleanStats()
    clean_dataset(ds, key=KEY, offset_days=-10, stats=stats)
    assert (ds.PatientName, ds.PatientID, ds.PatientBirthDate) == ("", "", "")
    assert (ds.PatientAge, ds.PatientSex, ds.PatientWeight) == ("090Y", "M", 61.5)
    for kw in ("EthnicGroup", "OtherPatientIDs", "ProtocolName", "StudyDescription"):
        assert kw not in ds, kw  # X, X/D → X, and a descriptor that is not clean
    assert (ds.InstitutionName, ds.StationName, ds.RequestedProcedureDescription) == ("", "", "")
    assert ds.ReferencedStudySequence == []  # X/Z → Z
    assert ds.SeriesDescription == "PV 5mm"  # clean descriptor
    assert ds.AcquisitionDate == "20230219" and ds.AcquisitionDateTime == "20230219101530.5"
    assert (ds.StudyTime, ds.ContrastBolusStartTime) == ("101500", "101420")  # TM kept
    assert ds.StructureSetLabel == "ANONYMIZED"  # D
    assert ds[0x00142006].value == "" and 0x00231001 not in ds
    new_uid = remap_uid(KEY, "1.2.3.4.5")
    assert ds.SOPInstanceUID == new_uid == ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert ds.SOPClassUID == ds.ReferencedImageSequence[0].ReferencedSOPClassUID == \
        "1.2.840.10008.5.1.4.1.1.2"
    assert stats.uids == {"1.2.3.4.5": new_uid} and stats.private_removed == 1


def test_workers_do_not_change_the_output(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "rtstruct.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / "in" / name)
    one = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "one", key=KEY)
    two = deidentify_dicom(src=tmp_path / "in", out=tmp_path / "two", key=KEY, workers=2)
    assert one.path_map == two.path_map and one.n_files == 3
    assert one.series == two.series and one.n_private_removed == two.n_private_removed
    for new in one.path_map.values():
        assert (tmp_path / "one" / new).read_bytes() == (tmp_path / "two" / new).read_bytes()
    with pytest.raises(UsageError, match="'workers' parameter"):
        deidentify_dicom(src=tmp_path / "in", out=tmp_path / "three", key=KEY, workers=0)
