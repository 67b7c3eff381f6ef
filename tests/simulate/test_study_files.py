"""A whole small study with every modality: the files open with the field's readers, images
agree with the readers' measurements, the CRF validates, and the study is reproducible."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from hccfusion.io.crf import validate_crf
from hccfusion.simulate.cohort import simulate_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("study")
    return simulate_study(out=out, n_patients=24, seed=5, workers=2)


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_workbooks_validate_without_errors(study) -> None:
    for workbook in study.workbooks.values():
        report = validate_crf(workbook)
        assert not report.has_errors, [str(i) for i in report.errors[:5]]


def test_tumour_volume_from_masks_tracks_the_readers_diameters(study) -> None:
    reads = study.tables["lesion_reads"]
    exams = study.tables["exams"].dropna(subset=["image_path"])
    r1 = reads[(reads["reader"] == "R1") & (reads["kind"] == "target")]
    rows = []
    for exam in exams.itertuples():
        sidecar = json.loads((study.out / exam.image_path / "lesion_labels.json").read_text())
        by_lesion = {les["lesion_id"]: les for les in sidecar["lesions"]}
        for read in r1[r1["exam_id"] == exam.exam_id].itertuples():
            les = by_lesion.get(read.lesion_id)
            if les is not None and les["mask_volume_ml"] > 0:
                rows.append((read.longest_diameter_mm, les["mask_volume_ml"], les["mask_diameter_mm"]))
    d_reader, volume, d_mask = map(np.asarray, zip(*rows))
    assert len(rows) >= 20
    assert spearmanr(d_reader, volume).statistic > 0.85
    assert np.median(np.abs(d_reader - d_mask)) < 10.0  # mm, on a 4 × 4 × 8 mm grid


def test_images_open_with_the_fields_readers(study) -> None:
    import nibabel
    import openslide
    import pydicom
    import SimpleITK as sitk

    exam = study.out / study.tables["exams"]["image_path"].dropna().iloc[0]
    nii = nibabel.load(exam / "arterial.nii.gz")
    assert np.allclose(nii.header.get_zooms(), (4.0, 4.0, 8.0))
    image = sitk.ReadImage(str(exam / "arterial.nii.gz"))
    dicoms = sorted((exam / "dicom" / "arterial").glob("*.dcm"))
    ds = pydicom.dcmread(dicoms[0])
    assert [float(v) for v in ds.PixelSpacing] == [4.0, 4.0] and float(ds.SliceThickness) == 8.0
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in dicoms])
    series = reader.Execute()
    assert np.array_equal(sitk.GetArrayFromImage(series), sitk.GetArrayFromImage(image))
    slides = study.tables["specimens"].query("kind == 'biopsy_wsi'")["path"]
    for path in slides:
        slide = openslide.OpenSlide(study.out / path)
        assert slide.level_count >= 3 and float(slide.properties["openslide.mpp-x"]) == 0.5
        slide.close()


def test_same_seed_same_bytes_whatever_the_workers(study, tmp_path: Path) -> None:
    again = simulate_study(out=tmp_path / "again", n_patients=24, seed=5, workers=1)
    assert _digests(again.out) == _digests(study.out)
    other = simulate_study(out=tmp_path / "other", n_patients=24, seed=6,
                           modalities=("clinical",))
    first = pd.read_parquet(study.out / "truth" / "latent.parquet")
    assert not first.equals(pd.read_parquet(other.out / "truth" / "latent.parquet"))
