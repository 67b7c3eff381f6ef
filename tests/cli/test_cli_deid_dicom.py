"""``hccfusion deid dicom``: summary, problems, burned-in flags, path map, exit codes."""

from __future__ import annotations

import csv
import json
import shutil
import stat

import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.data import get_testdata_file  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from hccfusion.cli.deid import app  # noqa: E402
from hccfusion.deid.pseudonym import load_key, pseudonym  # noqa: E402
from hccfusion.errors import UsageError  # noqa: E402


@pytest.fixture
def setup(tmp_path):
    src = tmp_path / "in" / "LEE^JOHN"
    src.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    shutil.copy(get_testdata_file("examples_rgb_color.dcm"), src / "us.dcm")
    (src / "readme.txt").write_text("not DICOM")
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", str(tmp_path / "k.key")]).exit_code == 0
    return runner, tmp_path


def test_dicom_prints_the_summary_problems_and_flags_and_writes_a_private_path_map(setup):
    runner, tmp = setup
    res = runner.invoke(app, ["dicom", str(tmp / "in"), str(tmp / "out"), "--key",
                              str(tmp / "k.key"), "--path-map", str(tmp / "map.csv")])
    assert res.exit_code == 0, res.output
    assert "2 file(s), 2 patient(s), 2 series" in res.output
    assert "readme.txt" in res.output and "not a DICOM file" in res.output
    assert "1 series may show burned-in identifiers" in res.output
    assert "CompressedSamples" not in res.output and "1CT1" not in res.output
    with (tmp / "map.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["source"] for r in rows} == {"LEE^JOHN/ct.dcm", "LEE^JOHN/us.dcm"}
    assert stat.S_IMODE((tmp / "map.csv").stat().st_mode) == 0o600
    written = sorted(p.relative_to(tmp / "out").as_posix() for p in (tmp / "out").rglob("*")
                     if p.is_file())
    assert written == sorted([*(r["output"] for r in rows), "manifest.json"])
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert [s["modality"] for s in manifest["series"] if s["check_pixels"]] == ["US"]
    assert not any("LEE" in p or "JOHN" in p for p in written)


def test_dicom_uses_the_id_map(setup):
    runner, tmp = setup
    (tmp / "ids.csv").write_text("dicom_patient_id,patient_id\n1CT1,WX-0009\n")
    res = runner.invoke(app, ["dicom", str(tmp / "in"), str(tmp / "out"), "--key",
                              str(tmp / "k.key"), "--id-map", str(tmp / "ids.csv")])
    assert res.exit_code == 0, res.output
    alias = pseudonym(load_key(tmp / "k.key"), "WX-0009", namespace="patient_id")
    (ct,) = (tmp / "out" / alias).rglob("*.dcm")
    assert pydicom.dcmread(ct).PatientID == alias
    assert "Patient ID not found in the ID map" in res.output  # the ultrasound's patient


def test_dicom_usage_errors(setup):
    runner, tmp = setup
    (tmp / "out").mkdir()
    (tmp / "out" / "old.dcm").write_bytes(b"")
    args = ["dicom", str(tmp / "in"), str(tmp / "out"), "--key", str(tmp / "k.key")]
    res = runner.invoke(app, args)
    assert isinstance(res.exception, UsageError) and "is not empty" in str(res.exception)
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    res = runner.invoke(app, [*args, "--overwrite", "--path-map", str(tmp / "out" / "m.csv")])
    assert isinstance(res.exception, UsageError) and "inside OUT" in str(res.exception)
    (tmp / "bad.csv").write_text("id,study\n1CT1,WX-0009\n")
    res = runner.invoke(app, [*args, "--overwrite", "--id-map", str(tmp / "bad.csv")])
    assert isinstance(res.exception, UsageError) and "dicom_patient_id" in str(res.exception)


def test_dicom_exits_1_when_nothing_could_be_written(setup):
    runner, tmp = setup
    (tmp / "junk").mkdir()
    (tmp / "junk" / "a.txt").write_text("no")
    res = runner.invoke(app, ["dicom", str(tmp / "junk"), str(tmp / "out"), "--key",
                              str(tmp / "k.key")])
    assert res.exit_code == 1
    assert "no DICOM file could be de-identified" in res.output
