"""Reading whole exam folders: the simulator's layout in both formats, the exams table, a plain
DICOM export with SEG masks, and broken parts that leave the rest readable."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.imaging.exam import read_exam  # noqa: E402
from hccfusion.imaging.masks import label_volumes_ml  # noqa: E402

from .conftest import write_seg  # noqa: E402


def arrays(image):
    return sitk.GetArrayFromImage(image)


def test_nifti_and_dicom_exams_agree(ct_exam):
    nifti = read_exam(ct_exam.exam_dir)
    dicom = read_exam(ct_exam.exam_dir, prefer="dicom")
    assert list(nifti.volumes) == list(dicom.volumes) == ["arterial", "portal_venous"]
    for phase in nifti.volumes:
        assert nifti.volumes[phase].source.name == f"{phase}.nii.gz"
        assert dicom.volumes[phase].source.name == phase and dicom.volumes[phase].series_uid
        np.testing.assert_array_equal(arrays(nifti.volumes[phase].image), arrays(dicom.volumes[phase].image))
        np.testing.assert_allclose(nifti.volumes[phase].image.GetOrigin(), dicom.volumes[phase].image.GetOrigin())
    assert nifti.lesion_ids == dicom.lesion_ids == {1: "L1", 2: "L2", 3: "L3"}
    assert nifti.problems == dicom.problems == ()
    assert nifti.mask_phase == "arterial"
    np.testing.assert_array_equal(arrays(nifti.lesion_labels), arrays(dicom.lesion_labels))
    volumes = label_volumes_ml(nifti.lesion_labels)
    for entry in ct_exam.sidecar["lesions"]:
        assert volumes[entry["label"]] == pytest.approx(entry["mask_volume_ml"], abs=1e-3)
    assert label_volumes_ml(nifti.liver_mask)[1] == pytest.approx(ct_exam.sidecar["liver_volume_ml"], abs=0.01)
    assert nifti.phase_report[1:3] == (
        "arterial: arterial.nii.gz (nifti) — file name 'arterial.nii.gz' has 'ARTERIAL'",
        "portal_venous: portal_venous.nii.gz (nifti) — file name 'portal_venous.nii.gz' has 'PORTAL', "
        "'PORTAL VENOUS', 'VENOUS'",
    )
    assert "dicom: not scanned (NIfTI volumes and masks cover the exam, prefer=nifti)" in nifti.phase_report
    assert dicom.phase_report[1].startswith("portal_venous: dicom/portal_venous (dicom) — series description 'PV 8mm' has 'PV'")
    assert "lesion labels: lesion_labels.nii.gz on the arterial grid, 3 lesion ids from lesion_labels.json" in nifti.phase_report


def test_exams_table_decides(ct_exam):
    only_pv = read_exam(ct_exam.exam_dir, phases=("portal_venous",), prefer="dicom")
    assert list(only_pv.volumes) == ["portal_venous"]
    assert only_pv.mask_phase == "portal_venous"
    assert ("not used: dicom/arterial (dicom) — series description 'ART 8mm' has 'ART', "
            "but the exams table lists only portal_venous: not used") in only_pv.phase_report
    missing = read_exam(ct_exam.exam_dir, phases="arterial,portal_venous,delayed")
    assert [p.reason for p in missing.problems] == [
        "the exams table lists delayed, but no image of that phase was found"
    ]


@pytest.fixture(scope="module")
def pacs_export(ct_exam, tmp_path_factory):
    """The exam's two series as an anonymous PACS export (no phase in folder names, no NIfTI),
    with a DICOM-SEG of liver and tumours drawn on the portal-venous series and a stray file."""
    from hccfusion.imaging.masks import read_mask
    from hccfusion.imaging.volumes import read_volume

    root = tmp_path_factory.mktemp("pacs") / "EXPORT"
    shutil.copytree(ct_exam.path(ct_exam.files.arterial_dicom_dir), root / "S0001")
    shutil.copytree(ct_exam.path(ct_exam.files.portal_venous_dicom_dir), root / "S0002")
    (root / "S0002" / "Thumbs.db").write_bytes(b"\x00" * 64)
    (root / "index.html").write_text("<html></html>")
    pv = read_volume(root / "S0002")
    liver = arrays(read_mask(ct_exam.path(ct_exam.files.liver_mask), reference=pv))
    lesions = arrays(read_mask(ct_exam.path(ct_exam.files.lesion_labels), reference=pv))
    combined = np.where(lesions > 0, lesions + 1, liver).astype(np.uint8)  # 1 liver, 2–4 tumours
    image = sitk.GetImageFromArray(combined)
    image.CopyInformation(pv.image)
    names = {1: "Liver", 2: "Tumor 1", 3: "Tumor 2", 4: "Tumor 3"}
    (root / "S0003").mkdir()
    write_seg(root / "S0003" / "seg.dcm", image, names, series_uid=pv.series_uid)
    return root, lesions, liver


def test_plain_dicom_export_with_seg(pacs_export):
    root, lesions, liver = pacs_export
    exam = read_exam(root)
    assert list(exam.volumes) == ["arterial", "portal_venous"]
    assert exam.mask_phase == "portal_venous"
    assert exam.lesion_ids == {1: "Tumor 1", 2: "Tumor 2", 3: "Tumor 3"}
    np.testing.assert_array_equal(arrays(exam.lesion_labels), lesions)
    # The SEG's liver segment is the parenchyma only (tumours were painted over it).
    np.testing.assert_array_equal(arrays(exam.liver_mask), ((liver > 0) & (lesions == 0)).astype(np.uint8))
    assert [(p.path.name, p.reason) for p in exam.problems] == [("index.html", "not a DICOM file")]
    assert "liver mask: seg.dcm segments 'Liver' on the portal_venous grid" in exam.phase_report
    assert exam.phase_report[0].startswith("arterial: S0001 (dicom) — series description 'ART 8mm'")


def test_uninformative_export_uses_table_and_acquisition_order(ct_exam, tmp_path):
    for name, src in (("A", ct_exam.files.portal_venous_dicom_dir), ("B", ct_exam.files.arterial_dicom_dir)):
        (tmp_path / name).mkdir()
        for path in sorted(ct_exam.path(src).glob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = "Abdomen 8mm"
            del ds.ContrastBolusStartTime
            ds.save_as(tmp_path / name / path.name)
    exam = read_exam(tmp_path, phases=("arterial", "portal_venous"))
    assert {p: v.source.name for p, v in exam.volumes.items()} == {"arterial": "B", "portal_venous": "A"}
    assert exam.volumes["arterial"].phase_source == "exams table"
    assert "so arterial by acquisition order" in exam.volumes["arterial"].phase_reason
    untold = read_exam(tmp_path)  # no table: contrast given, so the order still decides
    assert {p: v.source.name for p, v in untold.volumes.items()} == {"arterial": "B", "portal_venous": "A"}
    assert untold.volumes["portal_venous"].phase_source == "dicom tags"


def test_broken_mask_is_a_problem_and_the_rest_is_read(ct_exam, tmp_path):
    exam_dir = tmp_path / "exam"
    exam_dir.mkdir()
    for name in ("arterial.nii.gz", "portal_venous.nii.gz", "lesion_labels.nii.gz", "lesion_labels.json"):
        shutil.copy(ct_exam.exam_dir / name, exam_dir / name)
    liver = sitk.ReadImage(str(ct_exam.exam_dir / "liver_mask.nii.gz"))
    liver.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(liver, str(exam_dir / "liver_mask.nii.gz"))
    exam = read_exam(exam_dir)
    assert exam.liver_mask is None and exam.lesion_labels is not None and len(exam.volumes) == 2
    [problem] = exam.problems
    assert problem.path == exam_dir / "liver_mask.nii.gz"
    assert problem.reason.startswith(f"mask {exam_dir / 'liver_mask.nii.gz'} does not match its volume "
                                     f"{exam_dir / 'arterial.nii.gz'}: origin (0, 0, 0) vs (-190, -190, -92) mm")


def test_bad_calls(ct_exam, tmp_path):
    with pytest.raises(UsageError, match="The 'exam_dir' parameter of read_exam must be an existing folder"):
        read_exam(tmp_path / "missing")
    with pytest.raises(UsageError, match="unknown prefer 'dicm'; did you mean 'dicom'"):
        read_exam(ct_exam.exam_dir, prefer="dicm")
    with pytest.raises(UsageError, match="unknown phase 'venous'"):
        read_exam(ct_exam.exam_dir, phases=("venous",))
    (tmp_path / "notes.txt").write_text("no images")  # text and JSON files are passed over quietly
    (tmp_path / "scan.bin").write_bytes(b"\x01" * 300)
    with pytest.raises(DataError, match=r"no readable image \(.*scan.bin: not a DICOM file\)"):
        read_exam(tmp_path)
