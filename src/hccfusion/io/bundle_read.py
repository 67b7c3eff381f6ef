"""Reading and verifying a model bundle: :func:`read_bundle`.

Owns the checks a bundle folder must pass before its weights are loaded — format version,
the sha256 of every listed file, the configuration hash — and the loading itself (JSON,
YAML, safetensors on CPU; no pickle). Re-exported from :mod:`hccfusion.io.bundle`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.io.bundle_json import config_hash
from hccfusion.io.bundle_layout import (
    _INSTALL_HINT,
    _REQUIRED_META,
    BUNDLE_FORMAT_VERSION,
    CONFIG_FILE,
    CUTOFFS_FILE,
    FEATURE_SPECS_FILE,
    META_FILE,
    MODEL_CARD_FILE,
    PREPROCESSOR_DIR,
    TIME_BINS_FILE,
    WEIGHTS_FILE,
    ModelBundle,
    _bundle_from_parts,
)
from hccfusion.io.weights import sha256_file

if TYPE_CHECKING:
    import torch

__all__ = ["read_bundle"]


def _read_json(path: Path, bundle: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name} in model bundle {bundle} is not valid JSON ({exc}); "
                        "re-export the bundle.") from exc


def read_bundle(path: str | Path) -> ModelBundle:
    """Read and verify a model bundle written by :func:`~hccfusion.io.bundle.write_bundle`.

    Checks, in order: ``bundle.json`` exists and its format version is one this hccfusion
    reads; every file it lists exists and has the recorded sha256 (weights included); the
    configuration in ``config.yaml`` has the recorded ``config_hash``. Only then are the
    weights loaded (safetensors, CPU; no pickle).

    Parameters
    ----------
    path
        The bundle folder.

    Returns
    -------
    ModelBundle

    Raises
    ------
    UsageError
        ``path`` is not a folder holding ``bundle.json``.
    SchemaVersionError
        The bundle was written with a newer (or unknown) format version; ``bundle.json`` named.
    DataError
        A listed file is missing or was changed after the bundle was written (file named), or
        ``bundle.json`` / ``config.yaml`` cannot be parsed or lacks a field.
    """
    import yaml

    root = Path(path)
    meta_path = root / META_FILE
    if not root.is_dir():
        raise UsageError(f"The 'path' parameter of read_bundle must be a model bundle folder. "
                         f"Got {str(root)!r} instead (no such folder).")
    if not meta_path.is_file():
        raise UsageError(f"{root} is not a model bundle: it has no {META_FILE}. Point to the "
                         "folder written by 'hccfusion train' (write_bundle).")
    meta = _read_json(meta_path, root)
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path} must hold a JSON object; re-export the bundle.")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SchemaVersionError(f"{meta_path} has format_version {version!r}, which this "
                                 f"hccfusion cannot read (it reads 1 to {BUNDLE_FORMAT_VERSION}).")
    if version > BUNDLE_FORMAT_VERSION:
        from hccfusion import __version__

        raise SchemaVersionError(
            f"{meta_path} has format_version {version} (written by hccfusion "
            f"{meta.get('package_version', '?')}), but this hccfusion {__version__} reads up to "
            f"{BUNDLE_FORMAT_VERSION}. Upgrade hccfusion to read this bundle.")
    lacking = [k for k in _REQUIRED_META if k not in meta]
    if lacking:
        raise DataError(f"{meta_path} lacks {', '.join(lacking)}; the bundle is incomplete. "
                        "Re-export it.")
    files = meta["files"]
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise DataError(f"{meta_path} lists no {WEIGHTS_FILE} under 'files'; re-export the "
                        "bundle.")
    if files[WEIGHTS_FILE] != meta["weights_sha256"]:
        raise DataError(f"{meta_path} was edited: its weights_sha256 differs from the sha256 it "
                        f"lists for {WEIGHTS_FILE}. Re-export the bundle.")
    expected_files = [WEIGHTS_FILE, TIME_BINS_FILE, CUTOFFS_FILE, FEATURE_SPECS_FILE] + [
        f"{PREPROCESSOR_DIR}/{name}.json" for name in meta["preprocessors"]]
    for rel in expected_files:
        if rel not in files:
            raise DataError(f"{meta_path} lists no sha256 for {rel}; the bundle is incomplete. "
                            "Re-export it.")
    for rel, recorded in files.items():
        target = root / rel
        if not target.is_file():
            raise DataError(f"model bundle {root} lacks {rel}, listed in {META_FILE}; the bundle "
                            "is incomplete. Copy the whole folder or re-export it.")
        found = sha256_file(target)
        if found != recorded:
            raise DataError(f"{rel} in model bundle {root} has sha256 {found[:12]}…, but "
                            f"{META_FILE} records {str(recorded)[:12]}…: the file was changed "
                            "after the bundle was written (corrupt copy or edit). Copy the "
                            "bundle again or re-export it.")

    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise DataError(f"model bundle {root} lacks {CONFIG_FILE}; the bundle is incomplete. "
                        "Copy the whole folder or re-export it.")
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{CONFIG_FILE} in model bundle {root} is not valid YAML ({exc}); it was "
                        "edited after the bundle was written. Re-export the bundle.") from exc
    if not isinstance(config, dict) or set(config) != {"model", "training"}:
        raise DataError(f"{CONFIG_FILE} in model bundle {root} must hold exactly the keys 'model' "
                        "and 'training'; it was edited after the bundle was written. Re-export "
                        "the bundle.")
    model_cfg, training_cfg = config["model"], config["training"]
    try:
        found_hash = config_hash(model_cfg, training_cfg)
    except UsageError as exc:
        raise DataError(f"{CONFIG_FILE} in model bundle {root} holds non-JSON values ({exc}).") \
            from exc
    if found_hash != meta["config_hash"]:
        raise DataError(f"{CONFIG_FILE} in model bundle {root} has config hash "
                        f"{found_hash[:12]}…, but {META_FILE} records "
                        f"{str(meta['config_hash'])[:12]}…: the configuration was changed after "
                        "the model was trained, so it no longer describes these weights. Restore "
                        "the original config.yaml or retrain.")

    pre = {name: _read_json(root / PREPROCESSOR_DIR / f"{name}.json", root)
           for name in meta["preprocessors"]}
    bins = _read_json(root / TIME_BINS_FILE, root)
    cuts = _read_json(root / CUTOFFS_FILE, root)
    specs = _read_json(root / FEATURE_SPECS_FILE, root)
    tensors = _load_weights(root / WEIGHTS_FILE, root)
    card_path = root / MODEL_CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else None
    return _bundle_from_parts(root, meta, model_cfg, training_cfg, tensors, pre, bins, cuts,
                              specs, card)


def _load_weights(file: Path, root: Path) -> dict[str, "torch.Tensor"]:
    try:
        from safetensors.torch import load_file
    except ImportError as err:  # pragma: no cover - safetensors is in the models extra
        raise UsageError(f"reading a model bundle needs safetensors and torch: {_INSTALL_HINT}") \
            from err
    try:
        return load_file(str(file), device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError
        raise DataError(f"{WEIGHTS_FILE} in model bundle {root} is not a readable safetensors "
                        f"file ({err}); re-export the bundle.") from err
