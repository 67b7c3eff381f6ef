"""The ModelBundle: everything a trained multimodal model needs to predict, in one folder.

Layout (no pickle anywhere; every file but the model card is plain text or safetensors)::

    <bundle>/bundle.json              format and package version, created_at (UTC), config_hash,
                                      weights_sha256, sha256 of every other file, endpoints,
                                      modalities, seed, training summary, risk cut-off values,
                                      metrics, limitations, weight count
    <bundle>/config.yaml              {"model": model config, "training": training config}
    <bundle>/weights.safetensors      the net's state_dict (CPU tensors)
    <bundle>/preprocessors/<name>.json  one fitted preprocessor (its ``to_dict()``) per file
    <bundle>/time_bins.json           fitted time bins per endpoint (``to_dict()`` payloads)
    <bundle>/cutoffs.json             frozen risk-group cut-offs per endpoint
                                      (:meth:`hccfusion.evaluation.cutoffs._Cutoff.to_dict`)
    <bundle>/feature_specs.json       per modality, what the input features must have been made
                                      with (encoder, spec, weight hash, columns …)
    <bundle>/model_card.md            generated prose: intended use, data, metrics, limitations

:func:`write_bundle` writes the folder into a temporary sibling and renames it into place, so a
bundle that exists is complete. :func:`read_bundle` checks the format version, the sha256 of the
weights and of every JSON file, and the hash of the configuration before it returns a
:class:`ModelBundle`; a bundle edited after it was written is refused with the file named.
:func:`check_feature_specs` compares the features a user supplies with the ones the bundle
expects, and says how to re-extract them when they differ.

``config_hash`` is the sha256 of the canonical JSON (sorted keys, no spaces) of
``{"model": model_config, "training": training_config}``; it identifies the configuration
whatever the YAML formatting, so it can label predictions made with the bundle.

Example
-------
>>> path = write_bundle("runs/wx/bundle", state_dict=net.state_dict(), model_config=cfg,
...                     training_config=train_cfg, preprocessors={"clinical": pre.to_dict()},
...                     time_bins={"os": bins.to_dict()}, cutoffs={"os": cut.to_dict()},
...                     feature_specs=specs, summary={"n_patients": 412, "centres": ["WX"],
...                     "split_id": "external-WX"}, seed=7)  # doctest: +SKIP
>>> bundle = read_bundle(path)  # doctest: +SKIP
>>> notes = check_feature_specs(bundle.feature_specs, given_specs)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.io.weights import sha256_file
from hccfusion.io.bundle_card import render_model_card  # re-exported
from hccfusion.io.bundle_specs import check_feature_specs  # re-exported

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "ModelBundle",
    "check_feature_specs",
    "config_hash",
    "read_bundle",
    "render_model_card",
    "write_bundle",
]

#: Version of the folder layout written here; readers refuse a newer one.
BUNDLE_FORMAT_VERSION = 1

META_FILE = "bundle.json"
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "weights.safetensors"
PREPROCESSOR_DIR = "preprocessors"
TIME_BINS_FILE = "time_bins.json"
CUTOFFS_FILE = "cutoffs.json"
FEATURE_SPECS_FILE = "feature_specs.json"
MODEL_CARD_FILE = "model_card.md"

#: The fixed modality order of the multimodal net (design: tensor batch contract).
_MODALITY_ORDER = ("clinical", "radiomics", "pathology", "omics")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")
_INSTALL_HINT = "pip install 'hccfusion[models]'"
_REQUIRED_META = ("format_version", "package_version", "created_at", "config_hash",
                  "weights_sha256", "files", "endpoints", "modalities", "seed", "summary",
                  "preprocessors")


# --------------------------------------------------------------------------- the bundle object

@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A trained model with everything fitted around it, as read by :func:`read_bundle`.

    Attributes
    ----------
    path
        The bundle folder (None for a bundle built in memory before it was written).
    format_version, package_version, created_at
        Bundle layout version, the hccfusion version that wrote it, and when (ISO 8601, UTC).
    config_hash, weights_sha256
        sha256 of the canonical JSON configuration and of ``weights.safetensors``.
    endpoints, modalities
        What the model predicts (e.g. ``("os", "pfs", "response", "bor")``) and the input
        modalities in the net's fixed order.
    seed
        The training seed.
    summary
        Training data summary (``n_patients``, ``centres``, ``split_id`` … as given).
    model_config, training_config
        The configurations as given to :func:`write_bundle`.
    state_dict
        Parameter and buffer names → CPU tensors, bit-identical to what was written.
    preprocessors
        Name → fitted preprocessor payload (each preprocessor's ``to_dict()``).
    time_bins, cutoffs
        Endpoint → fitted time-bin / frozen cut-off payloads (``to_dict()`` of each).
    feature_specs
        Modality → what its input features must have been made with.
    metrics
        Performance figures given at write time (nested dict or list of table rows), or None.
    limitations
        Extra limitations stated in the model card.
    model_card
        The text of ``model_card.md`` (None when that file was removed).
    meta
        The parsed ``bundle.json``.
    """

    path: Path | None
    format_version: int
    package_version: str
    created_at: str
    config_hash: str
    weights_sha256: str
    endpoints: tuple[str, ...]
    modalities: tuple[str, ...]
    seed: int
    summary: dict[str, Any]
    model_config: dict[str, Any]
    training_config: dict[str, Any]
    state_dict: dict[str, "torch.Tensor"] = field(repr=False)
    preprocessors: dict[str, Any] = field(repr=False)
    time_bins: dict[str, Any] = field(repr=False)
    cutoffs: dict[str, Any] = field(repr=False)
    feature_specs: dict[str, Any] = field(repr=False)
    metrics: Any = field(default=None, repr=False)
    limitations: tuple[str, ...] = ()
    model_card: str | None = field(default=None, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)


# --------------------------------------------------------------------------- JSON helpers

def _jsonable(obj: Any, where: str) -> Any:
    """``obj`` as plain JSON types: mappings → dict (str keys), sequences → list, numpy / torch
    scalars and arrays → Python numbers and lists, ``to_dict()`` / pydantic objects → dict."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise UsageError(f"{where} must have string keys (it is written as JSON). Got "
                                 f"key {key!r} ({type(key).__name__}) instead.")
            out[key] = _jsonable(value, f"{where}[{key!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):   # numpy / torch scalars and arrays
        return _jsonable(obj.tolist(), where)
    if hasattr(obj, "model_dump"):                          # pydantic v2 configs
        return _jsonable(obj.model_dump(mode="json"), where)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):    # fitted estimators
        return _jsonable(obj.to_dict(), where)
    if isinstance(obj, Path):
        return str(obj)
    raise UsageError(f"{where} must hold only JSON values (dict, list, str, number, bool, None). "
                     f"Got a {type(obj).__name__} instead; convert it (e.g. with to_dict()).")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(model_config: Mapping[str, Any], training_config: Mapping[str, Any]) -> str:
    """The sha256 identifying a configuration: of the canonical JSON of
    ``{"model": model_config, "training": training_config}`` (sorted keys, no spaces).

    Two configurations with equal content have equal hashes, whatever their key order or YAML
    formatting.
    """
    payload = {"model": _jsonable(model_config, "model_config"),
               "training": _jsonable(training_config, "training_config")}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- argument checks

def _check_mapping(value: object, name: str, *, allow_none: bool = False) -> dict[str, Any]:
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"The '{name}' parameter of write_bundle must be a dict. Got "
                         f"{type(value).__name__} instead.")
    return _jsonable(value, name)


def _check_names(mapping: Mapping[str, Any], name: str) -> None:
    for key in mapping:
        if not _NAME.match(key):
            raise UsageError(f"The '{name}' parameter of write_bundle must have keys of letters, "
                             f"digits and . _ + = - (they become file names). Got {key!r} instead.")


def _check_state_dict(state_dict: object) -> dict[str, "torch.Tensor"]:
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is in the models extra
        raise UsageError(f"writing a model bundle needs torch: {_INSTALL_HINT}") from err
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise UsageError("The 'state_dict' parameter of write_bundle must be a non-empty dict of "
                         f"tensors (net.state_dict()). Got {type(state_dict).__name__} instead.")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UsageError("The 'state_dict' parameter of write_bundle must map str names to "
                             f"tensors. Got {key!r}: {type(value).__name__} instead.")
        # a copy per tensor: safetensors refuses tied (shared-storage) and non-contiguous tensors
        out[key] = value.detach().to("cpu", copy=True).contiguous()
    return out


def _names_from_config(model_config: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    section = model_config.get(key)
    if isinstance(section, Mapping):
        names = [k for k, v in section.items() if v not in (False, None)]
    elif isinstance(section, (list, tuple)):
        names = [str(v) for v in section]
    else:
        return None
    return tuple(names)


def _ordered_modalities(names: Sequence[str]) -> tuple[str, ...]:
    known = [m for m in _MODALITY_ORDER if m in names]
    return tuple(known + [m for m in names if m not in _MODALITY_ORDER])


def _check_cutoffs(cutoffs: dict[str, Any]) -> dict[str, Any]:
    """Light checks of the cut-off payloads; :func:`hccfusion.evaluation.cutoffs.cutoff_from_dict`
    validates them fully when they are used."""
    summary: dict[str, Any] = {}
    for name, payload in cutoffs.items():
        values = payload.get("cutoffs") if isinstance(payload, dict) else None
        numbers = isinstance(values, list) and bool(values) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if not numbers:
            raise UsageError("The 'cutoffs' parameter of write_bundle must map each endpoint to "
                             "a fitted cut-off's to_dict() (with a list of 'cutoffs'). Got "
                             f"{payload!r} for {name!r} instead.")
        summary[name] = {"kind": payload.get("kind"), "cutoffs": values,
                         "labels": payload.get("labels")}
    return summary


# --------------------------------------------------------------------------- writing

def write_bundle(
    out: str | Path,
    *,
    state_dict: Mapping[str, "torch.Tensor"],
    model_config: Mapping[str, Any],
    training_config: Mapping[str, Any],
    preprocessors: Mapping[str, Any],
    time_bins: Mapping[str, Any] | None,
    cutoffs: Mapping[str, Any] | None,
    feature_specs: Mapping[str, Mapping[str, Any]],
    summary: Mapping[str, Any],
    seed: int,
    metrics: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    endpoints: Sequence[str] | None = None,
    modalities: Sequence[str] | None = None,
    limitations: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Write a model bundle folder, whole or not at all.

    Parameters
    ----------
    out
        The bundle folder. It must not exist, be empty, or (with ``overwrite=True``) hold a
        bundle; a folder with other contents is never replaced.
    state_dict
        The net's ``state_dict()``; tensors are copied to CPU and stored with safetensors.
    model_config, training_config
        JSON-able configurations (dicts or pydantic models), stored in ``config.yaml``.
    preprocessors
        Name → fitted preprocessor (its ``to_dict()`` payload, or an object with ``to_dict``);
        written to ``preprocessors/<name>.json``. Names must be file-name safe.
    time_bins
        Endpoint → fitted time bins (``to_dict()``); None or {} when no head is discrete-time.
    cutoffs
        Endpoint → frozen risk-group cut-off (``to_dict()`` of a
        :mod:`hccfusion.evaluation.cutoffs` estimator, or the estimator); None or {} for none.
    feature_specs
        Modality → what its features must have been made with, e.g.
        ``{"pathology": {"encoder": "hcc_stats", "spec": "mpp0.50-px224", "weights_sha256":
        "ab12…", "dim": 64}, "radiomics": {"param_set": "ct_fast", "columns_sha256": "…",
        "n_columns": 120}, "clinical": {"columns": [...]}}``. One entry per modality of the
        model ({} checks nothing); see :func:`check_feature_specs`.
    summary
        Training data summary; recognised keys (shown in the model card): ``n_patients``,
        ``n_events`` (per endpoint), ``centres``, ``split_id``, ``cohort_label``, ``simulated``.
    seed
        The training seed (int >= 0).
    metrics
        Performance given for the model card and ``bundle.json``: a nested dict, or rows of a
        performance table (``performance_table(...).to_dict("records")``). NaN becomes null.
    endpoints, modalities
        Default: read from ``model_config["heads"]`` (entries not False/None) and
        ``model_config["modalities"]`` (keys).
    limitations
        Extra limitations for the model card (e.g. "trained on simulated patients").
    overwrite
        Replace a bundle already in ``out``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    UsageError
        Bad arguments (not JSON-able, unsafe names, a spec for a modality the model lacks or a
        modality without a spec), or ``out`` exists and may not be replaced.
    """
    out = Path(out)
    _check_out(out, overwrite)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"The 'seed' parameter of write_bundle must be an int >= 0. Got {seed!r} "
                         "instead.")
    tensors = _check_state_dict(state_dict)
    model_cfg = _check_mapping(model_config, "model_config")
    training_cfg = _check_mapping(training_config, "training_config")
    pre = _check_mapping(preprocessors, "preprocessors")
    _check_names(pre, "preprocessors")
    bins = _check_mapping(time_bins, "time_bins", allow_none=True)
    cuts = _check_mapping(cutoffs, "cutoffs", allow_none=True)
    cut_summary = _check_cutoffs(cuts)
    specs = _check_mapping(feature_specs, "feature_specs")
    summ = _check_mapping(summary, "summary")
    mets = _nan_to_none(_jsonable(metrics, "metrics")) if metrics is not None else None
    if isinstance(limitations, str) or not all(isinstance(x, str) for x in limitations):
        raise UsageError("The 'limitations' parameter of write_bundle must be a list of "
                         f"sentences. Got {limitations!r} instead.")

    ends = tuple(endpoints) if endpoints is not None else _names_from_config(model_cfg, "heads")
    mods = tuple(modalities) if modalities is not None else _names_from_config(model_cfg,
                                                                               "modalities")
    if not ends:
        raise UsageError("write_bundle could not tell the model's endpoints: pass endpoints=[...] "
                         "or give model_config a 'heads' section.")
    if not mods:
        raise UsageError("write_bundle could not tell the model's modalities: pass "
                         "modalities=[...] or give model_config a 'modalities' section.")
    mods = _ordered_modalities(mods)
    for name, spec in specs.items():
        if not isinstance(spec, dict):
            raise UsageError(f"The 'feature_specs' parameter of write_bundle must map each "
                             f"modality to a dict. Got {spec!r} for {name!r} instead.")
    extra = [m for m in specs if m not in mods]
    missing = [m for m in mods if m not in specs]
    if extra or missing:
        raise UsageError("The 'feature_specs' parameter of write_bundle must have one entry per "
                         f"modality of the model ({', '.join(mods)}). Got "
                         + "; ".join(filter(None, [
                             f"no spec for {', '.join(missing)}" if missing else "",
                             f"specs for modalities the model lacks: {', '.join(extra)}"
                             if extra else ""]))
                         + " instead ({} is allowed for a modality with nothing to check).")

    from hccfusion import __version__

    meta: dict[str, Any] = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "package_version": __version__,
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "config_hash": config_hash(model_cfg, training_cfg),
        "weights_sha256": "",
        "files": {},
        "endpoints": list(ends),
        "modalities": list(mods),
        "seed": seed,
        "summary": summ,
        "risk_cutoffs": cut_summary,
        "preprocessors": sorted(pre),
        "n_weights": int(sum(t.numel() for t in tensors.values())),
        "metrics": mets,
        "limitations": list(limitations),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        files = _write_contents(tmp, tensors=tensors, model_cfg=model_cfg,
                                training_cfg=training_cfg, pre=pre, bins=bins, cuts=cuts,
                                specs=specs, config_hash=meta["config_hash"])
        meta["files"] = files
        meta["weights_sha256"] = files[WEIGHTS_FILE]
        card = render_model_card(_bundle_from_parts(
            None, meta, model_cfg, training_cfg, tensors, pre, bins, cuts, specs, None))
        (tmp / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
        (tmp / META_FILE).write_text(_dump_json(meta), encoding="utf-8")
        _swap_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"the bundle path {out} is a file; expected a new or empty folder.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / META_FILE).is_file():
            raise UsageError(f"{out} is not empty and holds no {META_FILE}, so it is not a model "
                             "bundle; refusing to replace its contents. Choose a new or empty "
                             "folder.")
        if not overwrite:
            raise UsageError(f"{out} already holds a model bundle; choose a new folder or pass "
                             "overwrite=True (--overwrite) to replace it.")


def _write_contents(tmp: Path, *, tensors: dict[str, "torch.Tensor"], model_cfg: dict[str, Any],
                    training_cfg: dict[str, Any], pre: dict[str, Any], bins: dict[str, Any],
                    cuts: dict[str, Any], specs: dict[str, Any],
                    config_hash: str) -> dict[str, str]:
    """Write every file but bundle.json and the model card; return relpath → sha256."""
    import yaml

    try:
        from safetensors.torch import save_file
    except ImportError as err:  # pragma: no cover - safetensors is in the models extra
        raise UsageError(f"writing a model bundle needs safetensors: {_INSTALL_HINT}") from err

    from hccfusion import __version__

    save_file(tensors, str(tmp / WEIGHTS_FILE),
              metadata={"format": "pt", "hccfusion_version": __version__})
    header = ("# hccfusion model bundle: the model and training configuration as given.\n"
              "# bundle.json records the hash of this content (config_hash\n"
              f"# {config_hash});\n"
              "# a changed value makes the bundle unreadable.\n")
    body = yaml.safe_dump({"model": model_cfg, "training": training_cfg}, sort_keys=False,
                          allow_unicode=True, default_flow_style=False)
    (tmp / CONFIG_FILE).write_text(header + body, encoding="utf-8")
    written = [WEIGHTS_FILE]
    (tmp / PREPROCESSOR_DIR).mkdir()
    for name, payload in pre.items():
        rel = f"{PREPROCESSOR_DIR}/{name}.json"
        (tmp / rel).write_text(_dump_json(payload), encoding="utf-8")
        written.append(rel)
    for rel, payload in ((TIME_BINS_FILE, bins), (CUTOFFS_FILE, cuts),
                         (FEATURE_SPECS_FILE, specs)):
        (tmp / rel).write_text(_dump_json(payload), encoding="utf-8")
        written.append(rel)
    return {rel: sha256_file(tmp / rel) for rel in written}


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished temporary folder to ``out``; an old bundle there is moved aside
    first and restored if the rename fails."""
    if not out.exists():
        tmp.rename(out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        tmp.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- reading

def _bundle_from_parts(path: Path | None, meta: dict[str, Any], model_cfg: dict[str, Any],
                       training_cfg: dict[str, Any], tensors: dict[str, "torch.Tensor"],
                       pre: dict[str, Any], bins: dict[str, Any], cuts: dict[str, Any],
                       specs: dict[str, Any], card: str | None) -> ModelBundle:
    return ModelBundle(
        path=path, format_version=int(meta["format_version"]),
        package_version=str(meta["package_version"]), created_at=str(meta["created_at"]),
        config_hash=str(meta["config_hash"]), weights_sha256=str(meta["weights_sha256"]),
        endpoints=tuple(meta["endpoints"]), modalities=tuple(meta["modalities"]),
        seed=int(meta["seed"]), summary=meta["summary"], model_config=model_cfg,
        training_config=training_cfg, state_dict=tensors, preprocessors=pre, time_bins=bins,
        cutoffs=cuts, feature_specs=specs, metrics=meta.get("metrics"),
        limitations=tuple(meta.get("limitations") or ()), model_card=card, meta=meta)


def _read_json(path: Path, bundle: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name} in model bundle {bundle} is not valid JSON ({exc}); "
                        "re-export the bundle.") from exc


def read_bundle(path: str | Path) -> ModelBundle:
    """Read and verify a model bundle written by :func:`write_bundle`.

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
