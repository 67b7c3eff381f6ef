"""Benchmark: lesion radiomics, read → resample → PyRadiomics, plain script vs hccfusion.

Goal (imaging issue): at least 5× more lesion-phases per minute than a plain PyRadiomics script
with the same parameter file and the same feature values, with peak memory bounded by about one
volume per worker.

Input: synthetic two-phase contrast CTs of 512 × 512 × 120 voxels (0.75 × 0.75 × 2.5 mm, int16
HU NIfTI) with an abdomen, a liver and 4 heterogeneous lesions of 12–60 mm, written once.
Three ways, each on 2 worker processes (spawned; each worker's peak memory is its own VmHWM):

* ``plain``: the usual PyRadiomics batch script — per lesion and phase,
  ``RadiomicsFeatureExtractor(params).execute(image_path, mask_path, label=k)`` with the
  packaged ``ct_ibsi`` parameter file; it reads the volume and resamples with a B-spline over
  the whole volume each time.
* ``plain_read_once``: the same, but each phase is read once and the in-memory whole volume is
  passed for every lesion (separates the cost of reading from that of resampling).
* ``hccfusion``: per phase, read once, then ``lesion_radiomics`` (crop, then PyRadiomics).

Feature values of ``hccfusion`` are compared with ``plain`` on every lesion-phase; the largest
relative difference over all features is printed.

Wall-clock figures depend on what else runs on the machine; the CPU seconds per lesion-phase
(summed over the worker processes, all threads) do much less.

Usage::

    .venv/bin/python benchmarks/bench_imaging.py [--quick] [--exams 2] [--workers 2] [--keep DIR]

``--keep DIR`` keeps the volumes and reuses them on the next run with the same DIR (delete it
after changing the size).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

PHASES = ("arterial", "portal_venous")
FULL = {"shape_zyx": (120, 512, 512), "spacing_xyz": (0.75, 0.75, 2.5), "lesion_mm": (60.0, 35.0, 22.0, 12.0)}
QUICK = {"shape_zyx": (48, 256, 256), "spacing_xyz": (0.75, 0.75, 2.5), "lesion_mm": (30.0, 18.0, 10.0)}


def synthetic_exam(folder: Path, *, shape_zyx: tuple[int, int, int], spacing_xyz: tuple[float, float, float],
                   lesion_mm: tuple[float, ...], seed: int) -> dict[str, Path]:
    """Write one two-phase CT (int16 HU NIfTI) and its lesion label map; return the paths."""
    import SimpleITK as sitk
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape_zyx
    sx, sy, sz = spacing_xyz
    z, y, x = np.meshgrid((np.arange(nz) - nz / 2) * sz, (np.arange(ny) - ny / 2) * sy,
                          (np.arange(nx) - nx / 2) * sx, indexing="ij", sparse=True)
    half_x, half_y = nx * sx / 2, ny * sy / 2
    body = (x / (0.9 * half_x)) ** 2 + (y / (0.7 * half_y)) ** 2 <= 1.0
    liver_c = np.array([-0.35 * half_x, -0.1 * half_y, 0.0])
    liver_r = np.array([0.4 * half_x, 0.35 * half_y, 0.45 * nz * sz])
    liver = ((x - liver_c[0]) / liver_r[0]) ** 2 + ((y - liver_c[1]) / liver_r[1]) ** 2 + (z / liver_r[2]) ** 2 <= 1
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    texture = gaussian_filter(rng.standard_normal(shape_zyx).astype(np.float32), sigma=(0.6, 2.0, 2.0))
    for k, diameter in enumerate(lesion_mm, start=1):
        angle = 2 * np.pi * k / len(lesion_mm)
        centre = liver_c + np.array([0.45 * liver_r[0] * np.cos(angle), 0.45 * liver_r[1] * np.sin(angle),
                                     (k - len(lesion_mm) / 2) * 0.15 * liver_r[2]])
        radii = diameter / 2 * np.array([1.0, 0.85, 0.9])
        inside = (((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                  + ((z - centre[2]) / radii[2]) ** 2) <= 1
        labels[inside & liver] = k
    paths = {}
    for phase, (liver_hu, lesion_hu, noise) in zip(PHASES, ((70.0, 130.0, 12.0), (110.0, 80.0, 10.0))):
        hu = np.full(shape_zyx, -1000.0, dtype=np.float32)
        hu[np.broadcast_to(body, shape_zyx)] = 40.0
        hu[liver] = liver_hu
        lesion = labels > 0
        hu[lesion] = lesion_hu + 25.0 * texture[lesion]
        hu += noise * rng.standard_normal(shape_zyx, dtype=np.float32)
        image = sitk.GetImageFromArray(np.clip(hu, -1024, 3071).astype(np.int16))
        image.SetSpacing(spacing_xyz)
        image.SetOrigin((-half_x + sx / 2, -half_y + sy / 2, -nz * sz / 2 + sz / 2))
        paths[phase] = folder / f"{phase}.nii.gz"
        sitk.WriteImage(image, str(paths[phase]))
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(image)
    paths["labels"] = folder / "lesion_labels.nii.gz"
    sitk.WriteImage(mask, str(paths["labels"]))
    return paths


def _one_thread() -> None:
    """Each worker runs ITK single-threaded, so 2 workers use 2 cores in every path."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def _peak_mb() -> float:
    """This process's peak resident memory (MB): VmHWM belongs to the process image, so unlike
    ru_maxrss it does not carry the parent's peak over the fork + exec of a spawned worker."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_task(image_path: str, mask_path: str, label: int) -> dict:
    """One lesion-phase the plain PyRadiomics way: paths in, whole volume resampled."""
    import os

    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from hccfusion.imaging.radiomics import load_radiomics_settings, quiet_radiomics

    cpu = time.process_time()
    with quiet_radiomics():
        extractor = RadiomicsFeatureExtractor(load_radiomics_settings("ct_ibsi").extractor_params())
        out = extractor.execute(image_path, mask_path, label=label)
    values = {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}
    return {"pid": os.getpid(), "peak_mb": _peak_mb(), "n": 1, "cpu_s": time.process_time() - cpu,
            "features": {(image_path, label): values}}


def plain_read_once_task(image_path: str, mask_path: str, labels: tuple[int, ...]) -> dict:
    """All lesions of one phase, whole in-memory volume passed to PyRadiomics for each."""
    import os

    import SimpleITK as sitk
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from hccfusion.imaging.radiomics import load_radiomics_settings, quiet_radiomics

    cpu = time.process_time()
    image, mask = sitk.ReadImage(image_path), sitk.ReadImage(mask_path)
    with quiet_radiomics():
        extractor = RadiomicsFeatureExtractor(load_radiomics_settings("ct_ibsi").extractor_params())
        for label in labels:
            extractor.execute(image, mask, label=label)
    return {"pid": os.getpid(), "peak_mb": _peak_mb(), "n": len(labels), "cpu_s": time.process_time() - cpu,
            "features": {}}


def ours_task(image_path: str, mask_path: str, labels: tuple[int, ...]) -> dict:
    """All lesions of one phase with hccfusion: read once, crop, PyRadiomics."""
    import os

    import SimpleITK as sitk

    from hccfusion.imaging.radiomics import lesion_radiomics, load_radiomics_settings

    cpu = time.process_time()
    image, mask = sitk.ReadImage(image_path), sitk.ReadImage(mask_path)
    table = lesion_radiomics(image=image, labels=mask, lesion_ids={k: f"L{k}" for k in labels},
                             phase=Path(image_path).stem, settings=load_radiomics_settings("ct_ibsi"))
    from hccfusion.imaging.radiomics import META_COLUMNS

    features = {(image_path, int(row["label"])): {k: v for k, v in row.items() if k not in META_COLUMNS}
                for row in table.to_dict("records")}
    return {"pid": os.getpid(), "peak_mb": _peak_mb(), "n": len(table), "cpu_s": time.process_time() - cpu,
            "features": features}


def _run(kind: str, exams: list[dict[str, Path]], labels: tuple[int, ...], workers: int) -> dict:
    jobs = []
    for exam in exams:
        for phase in PHASES:
            if kind == "plain":
                jobs += [(plain_task, str(exam[phase]), str(exam["labels"]), k) for k in labels]
            else:
                task = ours_task if kind == "hccfusion" else plain_read_once_task
                jobs.append((task, str(exam[phase]), str(exam["labels"]), labels))
    start = time.perf_counter()
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread) as pool:
        warm = [pool.submit(_peak_mb) for _ in range(workers)]  # start the workers before timing
        [w.result() for w in warm]
        start = time.perf_counter()
        results = [f.result() for f in [pool.submit(*job) for job in jobs]]
    seconds = time.perf_counter() - start
    peaks: dict[int, float] = {}
    features: dict = {}
    for r in results:
        peaks[r["pid"]] = max(peaks.get(r["pid"], 0.0), r["peak_mb"])
        features.update(r["features"])
    n = sum(r["n"] for r in results)
    return {"kind": kind, "seconds": seconds, "lesion_phases": n, "per_minute": 60 * n / seconds,
            "cpu_per_lesion_phase": sum(r["cpu_s"] for r in results) / n,
            "peak_mb": sorted(peaks.values(), reverse=True), "features": features}


def _differences(reference: dict, other: dict) -> tuple[float, str, int, int]:
    """Largest relative difference, where, values compared, values within 1e-6."""
    worst, where, compared, same = 0.0, "", 0, 0
    for key, values in reference.items():
        mine = other[key]
        for name, value in values.items():
            diff = abs(mine[name] - value) / max(abs(value), 1e-12)
            compared += 1
            same += diff <= 1e-6
            if diff > worst:
                worst, where = diff, f"{name} (label {key[1]}, {Path(key[0]).name})"
    return worst, where, compared, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 × 256 × 48 voxels, 1 exam, 3 lesions (< 1 min).")
    parser.add_argument("--exams", type=int, default=None, help="Exams (default 2, quick 1).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the volumes here.")
    args = parser.parse_args()
    spec = QUICK if args.quick else FULL
    n_exams = args.exams or (1 if args.quick else 2)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="hccfusion-bench-imaging-"))
    t = time.perf_counter()
    exams, reused = [], 0
    for i in range(n_exams):
        exam_dir = folder / f"exam{i}"
        exam_dir.mkdir(parents=True, exist_ok=True)
        written = {name: exam_dir / f"{name}.nii.gz" for name in (*PHASES, "lesion_labels")}
        if all(p.exists() for p in written.values()):  # reuse what --keep holds (same seed and size)
            exams.append({**{p: written[p] for p in PHASES}, "labels": written["lesion_labels"]})
            reused += 1
        else:
            exams.append(synthetic_exam(exam_dir, seed=i, **spec))
    labels = tuple(range(1, len(spec["lesion_mm"]) + 1))
    nz, ny, nx = spec["shape_zyx"]
    volume_mb = nx * ny * nz * 2 / 2**20
    print(f"{n_exams} exam(s) × {len(PHASES)} phases × {len(labels)} lesions of {spec['lesion_mm']} mm; "
          f"{nx}×{ny}×{nz} voxels of {spec['spacing_xyz']} mm (int16 volume {volume_mb:.0f} MB, float64 "
          f"{volume_mb * 4:.0f} MB); written in {time.perf_counter() - t:.1f} s ({reused} reused); "
          f"ct_ibsi: 1 mm B-spline, Original + LoG(1, 2, 3 mm), all 3D classes; {args.workers} workers")
    runs = [_run(kind, exams, labels, args.workers) for kind in ("plain", "plain_read_once", "hccfusion")]
    base = runs[0]["per_minute"]
    cpu_base = runs[0]["cpu_per_lesion_phase"]
    print(f"\n{'path':<16}{'lesion-phases':>14}{'wall s':>8}{'per min':>9}{'speed-up':>9}"
          f"{'CPU s each':>11}{'CPU speed-up':>13}  peak RSS per worker (MB)")
    for r in runs:
        peaks = ", ".join(f"{p:.0f}" for p in r["peak_mb"])
        print(f"{r['kind']:<16}{r['lesion_phases']:>14}{r['seconds']:>8.1f}{r['per_minute']:>9.1f}"
              f"{r['per_minute'] / base:>8.1f}×{r['cpu_per_lesion_phase']:>11.2f}"
              f"{cpu_base / r['cpu_per_lesion_phase']:>12.1f}×  {peaks}")
    worst, where, compared, same = _differences(runs[0]["features"], runs[2]["features"])
    print(f"\nfeature values, hccfusion vs plain: {same} of {compared} within 1e-6 (relative); "
          f"max relative difference {worst:.3g}" + (f" ({where})" if where else ""))
    print("goal: hccfusion ≥ 5× plain lesion-phases per minute with the same values; peak RSS per worker "
          "about one volume")


if __name__ == "__main__":
    main()
