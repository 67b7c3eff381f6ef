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

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion.errors import UsageError
from hccfusion.io.bundle_card import render_model_card  # re-exported
from hccfusion.io.bundle_checks import (
    _check_cutoffs,
    _check_mapping,
    _check_names,
    _check_out,
    _check_state_dict,
    _names_from_config,
    _ordered_modalities,
)
from hccfusion.io.bundle_json import (
    _dump_json,
    _jsonable,
    _nan_to_none,
    config_hash,  # re-exported
)
from hccfusion.io.bundle_layout import (  # the public names are re-exported
    _INSTALL_HINT,
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
from hccfusion.io.bundle_read import read_bundle  # re-exported
from hccfusion.io.bundle_specs import check_feature_specs  # re-exported
from hccfusion.io.weights import sha256_file

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "CONFIG_FILE",
    "CUTOFFS_FILE",
    "FEATURE_SPECS_FILE",
    "META_FILE",
    "MODEL_CARD_FILE",
    "ModelBundle",
    "PREPROCESSOR_DIR",
    "TIME_BINS_FILE",
    "WEIGHTS_FILE",
    "check_feature_specs",
    "config_hash",
    "read_bundle",
    "render_model_card",
    "write_bundle",
]


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
