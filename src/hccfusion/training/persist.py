"""A :class:`~hccfusion.training.loop.FittedModel` to and from a ModelBundle folder.

The bundle format lives in :mod:`hccfusion.io.bundle` (plain files, no pickle); this module
knows how the training layer's objects map onto it: the net's config and weights, every fitted
preprocessor (``to_dict``), the pathology instance scaler and per-centre statistics, the time
bins and the frozen risk cut-offs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from hccfusion.errors import DataError
from hccfusion.io.bundle_layout import fused_model_config
from hccfusion.training.loop import FittedModel

__all__ = ["save_fitted", "load_fitted"]

_BAG_SCALER = "pathology_instance_scaler"
_SITE_SCALER = "pathology_site_scaler"


def save_fitted(fitted: FittedModel, out: Path | str, *, training_config: dict,
                cutoffs: dict, feature_specs: dict, summary: dict, seed: int,
                metrics: Any = None, overwrite: bool = True) -> Path:
    """Write ``fitted`` (and its frozen cut-offs) as a bundle folder."""
    from hccfusion.io.bundle import write_bundle

    pre = {name: p.to_dict() for name, p in fitted.preprocessors.items()}
    if fitted.bag_scaler is not None:
        pre[_BAG_SCALER] = {"kind": _BAG_SCALER, **fitted.bag_scaler}
    if fitted.site_scaler is not None:
        pre[_SITE_SCALER] = {"kind": _SITE_SCALER, **fitted.site_scaler}
    specs = {m: s for m, s in feature_specs.items() if m in fitted.modalities}
    return write_bundle(
        out, state_dict=fitted.net.state_dict(), model_config=fitted.net_config,
        training_config=training_config, preprocessors=pre,
        time_bins={ep: b.to_dict() for ep, b in fitted.time_bins.items()},
        cutoffs=cutoffs, feature_specs=specs, summary=summary, seed=seed, metrics=metrics,
        modalities=list(fitted.modalities), endpoints=_endpoints(fitted.net_config),
        overwrite=overwrite)


def _endpoints(config: dict) -> list[str]:
    heads = fused_model_config(config).get("heads", {})
    return [name for name, head in heads.items() if head not in (None, False)]


def load_fitted(path: Path | str) -> tuple[FittedModel, Any]:
    """Rebuild the fitted model of a bundle; returns it with the :class:`ModelBundle`."""
    from hccfusion.io.bundle import read_bundle
    from hccfusion.models.experts import build_net
    from hccfusion.training.preprocess import TimeBins, preprocessor_from_dict

    bundle = read_bundle(path)
    net = build_net(bundle.model_config)
    try:
        net.load_state_dict(bundle.state_dict, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{path}: the weights do not fit the model config ({exc})") from exc
    net.eval()
    pre = {name: preprocessor_from_dict(d) for name, d in bundle.preprocessors.items()
           if name not in (_BAG_SCALER, _SITE_SCALER)}
    scaler = bundle.preprocessors.get(_BAG_SCALER)
    bag_scaler = None if scaler is None else {"mean": list(scaler["mean"]),
                                              "std": list(scaler["std"])}
    site = bundle.preprocessors.get(_SITE_SCALER)
    site_scaler = None if site is None else {k: v for k, v in site.items() if k != "kind"}
    fitted = FittedModel(net=net, net_config=bundle.model_config,
                         modalities=tuple(net.modalities), preprocessors=pre,
                         time_bins={ep: TimeBins.from_dict(d)
                                    for ep, d in (bundle.time_bins or {}).items()},
                         bag_scaler=bag_scaler, history=pd.DataFrame(), train_ids=(),
                         val_ids=(), site_scaler=site_scaler)
    return fitted, bundle
