"""Whole-slide images of liver biopsies: slide access, tissue detection, tiling, quality control
and stain normalisation.

- :mod:`~hccfusion.pathology.slides` — open ``.svs``, pyramidal ``.tif(f)``, ``.ndpi``,
  ``.mrxs`` through OpenSlide (tiffslide as the pure-Python fallback); resolution (µm/px) from
  the metadata or an explicit override; regions and thumbnails as uint8 RGB arrays.
- :mod:`~hccfusion.pathology.tissue` — a low-resolution tissue mask (saturation, Otsu,
  morphology) that keeps thin needle cores and drops glass and pen marks.
- :mod:`~hccfusion.pathology.tiling` — tile coordinates (level-0 px) at a target µm/px and tile
  size, read from the best pyramid level and resized.
- :mod:`~hccfusion.pathology.qc` — blur score per tile and a QC row per slide.
- :mod:`~hccfusion.pathology.stain` — Macenko stain vectors, normalisation and per-centre stain
  statistics.
- :mod:`~hccfusion.pathology.encoders` — the tile-encoder registry (built-in ``hcc_stats``,
  EfficientNet-Lite0, foundation models from a local checkpoint).
- :mod:`~hccfusion.pathology.extract` — one slide → features and level-0 coordinates, tiles read
  by ``DataLoader`` workers while the main process encodes
  (:mod:`~hccfusion.pathology.tile_dataset`); :mod:`~hccfusion.pathology.distributed` runs the
  same per-slide function as Ray tasks.
- :mod:`~hccfusion.pathology.heatmaps` — attention heatmaps over the thumbnail (PNG) and as
  QuPath GeoJSON, painted tile by tile.

Nothing heavy is imported here: OpenSlide, tiffslide, tifffile and Pillow are imported inside the
functions that need them.
"""
