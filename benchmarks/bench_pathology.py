"""Benchmark: slide tiles → features, our DataLoader path side by side with the naive loop.

Goals (pathology issue, 2 CPU cores): the pretrained-CNN path (EfficientNet-Lite0) at ≥ 95 % of
the encoder-only rate (reading fully hidden behind encoding); the built-in ``hcc_stats`` encoder
at ≥ 300 tiles/s end to end; peak memory independent of slide size.

Stages, in the same run and on the same slides (each in a fresh subprocess, so that its peak
resident memory — VmHWM — is its own):

- ``read_only``: OpenSlide ``read_region`` per tile of the tissue grid, nothing else;
- ``naive``: the CLAM pattern — read each tile with ``read_region``, then encode a batch, in
  one process, reading and encoding taking turns (EfficientNet-Lite0);
- ``encode_only``: EfficientNet-Lite0 on tiles already in memory (the ceiling);
- ``ours_effnet``: :func:`hccfusion.pathology.extract.extract_slide` with EfficientNet-Lite0,
  tiles read by DataLoader workers while the main process encodes;
- ``ours_stats``: the same with the built-in ``hcc_stats`` encoder;
- ``memory_small`` / ``memory_large``: ``ours_stats`` on a simulated slide and on one with
  4× the pixels; peak RSS should barely move.

The tile grid (tissue detection + tiling) is computed once per slide in each stage and not
timed: every method needs it and it costs the same. Our stages do include what
``extract_slide`` adds per slide: starting the reader workers, the QC row (blur and stain
vectors of a tile sample) and the provenance (sha256 of the file's first MiB) — fixed costs
that weigh on the few-tile slides of ``--quick`` and vanish on real ones.

Usage::

    .venv/bin/python benchmarks/bench_pathology.py [--quick] [--workers 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APERIO = ROOT / "tests" / "fixtures" / "slides" / "cmu_small_region.svs"

STAGE = r"""
import json, sys, time
import numpy as np
stage, slides, workers, batch, max_tiles = (sys.argv[1], json.loads(sys.argv[2]),
                                            int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
import torch
from hccfusion.pathology.slides import open_slide
from hccfusion.pathology.tissue import detect_tissue
from hccfusion.pathology.tiling import tile_grid, read_tiles
from hccfusion.pathology.encoders import get_tile_encoder

name = "hcc_stats" if stage in ("ours_stats", "memory_small", "memory_large") else "efficientnet_lite0"
enc = None if stage == "read_only" else get_tile_encoder(name)
grids, masks = [], []
for path in slides:
    with open_slide(path) as slide:
        mask = detect_tissue(slide)
        grid = tile_grid(slide, mask, target_mpp=0.5, tile_px=224)
    masks.append(mask)
    if max_tiles and len(grid.coords) > max_tiles:
        from dataclasses import replace
        grid = replace(grid, coords=grid.coords[:max_tiles],
                       tissue_fraction=grid.tissue_fraction[:max_tiles])
    grids.append(grid)
if enc is not None:  # warm-up (first-call allocations) outside the clock
    enc.encode(np.full((batch, 224, 224, 3), 200, np.uint8))
n = 0
elapsed = 0.0
for path, grid, mask in zip(slides, grids, masks):
    if stage in ("read_only", "naive"):
        import openslide
        osr = openslide.OpenSlide(path)
        side = int(grid.read_px)
        t = time.perf_counter()
        buf = []
        for i, (x, y) in enumerate(grid.coords):
            img = np.asarray(osr.read_region((int(x), int(y)), int(grid.level), (side, side)))[..., :3]
            if side != grid.tile_px:
                from PIL import Image
                img = np.asarray(Image.fromarray(img).resize((grid.tile_px, grid.tile_px)))
            buf.append(img)
            if stage == "naive" and (len(buf) == batch or i == len(grid.coords) - 1):
                enc.encode(np.stack(buf))
                buf = []
            elif stage == "read_only" and len(buf) == batch:
                buf = []
        elapsed += time.perf_counter() - t
        osr.close()
    elif stage == "encode_only":
        with open_slide(path) as slide:
            tiles = read_tiles(slide, grid, np.arange(len(grid.coords)))
        t = time.perf_counter()
        for s in range(0, len(tiles), batch):
            enc.encode(tiles[s:s + batch])
        elapsed += time.perf_counter() - t
    else:
        from dataclasses import replace
        from hccfusion.pathology import extract
        from hccfusion.pathology.extract import TileSettings
        settings = TileSettings(target_mpp=0.5, tile_px=224, batch_size=batch, num_workers=workers)
        import hccfusion.pathology.tiling as tiling
        import hccfusion.pathology.tissue as tissue
        # the same (possibly capped) grid and mask as the other stages, computed outside the clock
        tiling.tile_grid = lambda *a, _g=grid, **k: _g
        tissue.detect_tissue = lambda *a, _m=mask, **k: _m
        t = time.perf_counter()
        extract.extract_slide(path, encoder=enc, settings=settings)
        elapsed += time.perf_counter() - t
    n += len(grid.coords)
peak_mb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import resource
cpu_s = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                              resource.getrusage(resource.RUSAGE_CHILDREN)))
print(json.dumps({"stage": stage, "tiles": n, "seconds": round(elapsed, 2), "cpu_s": round(cpu_s, 1),
                  "tiles_per_s": round(n / elapsed, 1), "peak_mb": round(peak_mb, 1),
                  "torch_threads": torch.get_num_threads()}))
"""


def _stage(name: str, slides: list[Path], *, workers: int, batch: int, max_tiles: int) -> dict:
    out = subprocess.run([sys.executable, "-c", STAGE, name, json.dumps([str(s) for s in slides]),
                          str(workers), str(batch), str(max_tiles)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _simulated(folder: Path, *, size: str, mpp: float, seed: int) -> Path:
    from hccfusion.simulate.wsi import write_biopsy_slide

    path = folder / f"sim-{size}-mpp{mpp:g}-{seed}.tiff"
    if not path.is_file():
        write_biopsy_slide(path=path, slide_id=path.stem, immune=0.5, proliferation=0.5,
                           hypoxia=0.0, wnt=False, center="WX", seed=seed, size=size, mpp=mpp)
    return path


def _tiled_copy(src: Path, dst: Path, *, repeat: int) -> Path:
    """``src``'s level 0 repeated ``repeat × repeat`` times (``repeat²`` × the pixels and the
    tiles), written as a generic-tiff pyramid (tiled JPEG, levels ×4) with the same mpp."""
    import numpy as np
    import openslide
    import tifffile

    if dst.is_file():
        return dst
    with openslide.OpenSlide(str(src)) as osr:
        w, h = osr.dimensions
        mpp = float(osr.properties["openslide.mpp-x"])
        level0 = np.asarray(osr.read_region((0, 0), 0, (w, h)))[..., :3]
    img = np.tile(level0, (repeat, repeat, 1))
    with tifffile.TiffWriter(dst) as tif:
        for level in range(4):
            px_per_cm = 1e4 / (mpp * 4**level)
            tif.write(img, tile=(256, 256), photometric="rgb", compression="jpeg",
                      resolution=(px_per_cm, px_per_cm), resolutionunit="CENTIMETER",
                      metadata=None, **({"subfiletype": 1} if level else {}))
            h4, w4 = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
            img = img[:h4, :w4].reshape(h4 // 4, 4, w4 // 4, 4, 3).mean(axis=(1, 3)).astype(np.uint8)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="A small simulated slide instead of a full one, and at most 64 "
                             "EfficientNet tiles per slide (< 1 min).")
    parser.add_argument("--workers", type=int, default=1,
                        help="DataLoader reader processes of our path (default 1: on 2 cores, "
                             "one reader keeps up with the CNN and leaves it a core).")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the slides here.")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="hccfusion-bench-wsi-"))
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    sim = _simulated(folder, size="small" if args.quick else "full", mpp=0.5, seed=1)
    cnn_slides = [APERIO, sim]
    stats_slides = [APERIO, sim]
    max_cnn = 64 if args.quick else 400
    small = _simulated(folder, size="small", mpp=0.5, seed=3)
    large = _tiled_copy(small, folder / f"{small.stem}-2x2.tiff", repeat=2)
    print(f"slides ready in {time.perf_counter() - t:.0f} s ({folder})")
    for s in sorted({*cnn_slides, *stats_slides, small, large}):
        import openslide

        with openslide.OpenSlide(str(s)) as osr:
            w, h = osr.dimensions
        print(f"  {s.name}: {w:,} × {h:,} px, {s.stat().st_size / 1e6:.1f} MB")

    import os

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(figures are only comparable on an otherwise idle machine)")
    rows = []
    kw = {"workers": args.workers, "batch": args.batch}
    for name, slides, cap in (("read_only", cnn_slides, max_cnn), ("naive", cnn_slides, max_cnn),
                              ("encode_only", cnn_slides, max_cnn),
                              ("ours_effnet", cnn_slides, max_cnn),
                              ("ours_stats", stats_slides, 0)):
        r = _stage(name, slides, max_tiles=cap, **kw)
        rows.append(r)
        print(f"{name:12s} {r['tiles']:6d} tiles {r['seconds']:7.2f} s "
              f"{r['tiles_per_s']:8.1f} tiles/s  peak {r['peak_mb']:7.1f} MB  "
              f"(process CPU {r['cpu_s']:.1f} s incl. start-up)")
    by = {r["stage"]: r for r in rows}
    share = by["ours_effnet"]["tiles_per_s"] / by["encode_only"]["tiles_per_s"]
    speedup = by["ours_effnet"]["tiles_per_s"] / by["naive"]["tiles_per_s"]
    print(f"\nEfficientNet-Lite0: ours {share:.1%} of encoder-only (goal ≥ 95 %), "
          f"{speedup:.2f}× the naive loop")
    print(f"hcc_stats end to end: {by['ours_stats']['tiles_per_s']:.0f} tiles/s (goal ≥ 300)")

    mem = [_stage("memory_small", [small], max_tiles=0, **kw),
           _stage("memory_large", [large], max_tiles=0, **kw)]
    for r, s in zip(mem, (small, large)):
        print(f"{r['stage']:12s} {s.name}: {r['tiles']} tiles, peak {r['peak_mb']:.1f} MB")
    print(f"peak RSS ratio large/small: {mem[1]['peak_mb'] / mem[0]['peak_mb']:.2f} "
          f"for {mem[1]['tiles'] / max(mem[0]['tiles'], 1):.1f}× the tiles")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(json.dumps({"stages": rows, "memory": mem, "cnn_share_of_encoder_only": round(share, 3),
                      "speedup_vs_naive": round(speedup, 2)}))


if __name__ == "__main__":
    main()
