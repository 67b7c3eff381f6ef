"""``hccfusion predict``: score a cohort with a saved ModelBundle.

The bundle's feature specs are checked against the features given (a pathology bag made with
another encoder, radiomics with another parameter set, … is refused with the re-extraction
command); a modality the cohort lacks is simply unavailable for those patients. Writes one row
per patient: ``risk_os``, ``risk_pfs`` (higher = worse), the frozen risk group of each,
``p_response``, ``surv_prob_<h>d`` for a discrete-time model, and the modalities used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PredictionResult", "run_prediction"]


@dataclass(frozen=True)
class PredictionResult:
    path: Path
    n_patients: int
    notes: tuple[str, ...]


def run_prediction(*, bundle: Path | str, cohort: Path | str, endpoints: Path | str,
                   out: Path | str, features: Path | str | None = None,
                   radiomics: Path | str | None = None, pathology: Path | str | None = None,
                   omics: Path | str | None = None,
                   horizons_days: tuple[float, ...] = (365.0, 730.0)) -> PredictionResult:
    """Score every (eligible, when assessed) patient of ``cohort`` with ``bundle``."""
    from hccfusion.evaluation.cutoffs import cutoff_from_dict
    from hccfusion.io.atomic import atomic_write_parquet
    from hccfusion.io.bundle import check_feature_specs
    from hccfusion.training.dataset import load_study_data
    from hccfusion.training.loop import predict_frame
    from hccfusion.training.persist import load_fitted

    fitted, b = load_fitted(bundle)
    data = load_study_data(cohort=cohort, endpoints=endpoints, features=features,
                           radiomics=radiomics, pathology=pathology, omics=omics,
                           require_targets=False)
    given = {m: s for m, s in data.feature_specs.items() if m in fitted.modalities}
    notes = check_feature_specs(b.feature_specs, given)
    for m in fitted.modalities:
        if m not in data.modalities:
            data = _without(data, m)
    ids = data.patient_ids
    pred = predict_frame(fitted, data, ids, horizons_days=horizons_days)
    for ep in ("os", "pfs"):
        if ep in b.cutoffs:
            r = pred[f"risk_{ep}"].to_numpy(float)
            group = np.full(len(r), None, dtype=object)
            ok = np.isfinite(r)
            group[ok] = cutoff_from_dict(b.cutoffs[ep]).transform(r[ok])
            pred[f"risk_group_{ep}"] = group
    avail = data.available()[list(fitted.modalities)]
    pred["modalities_used"] = avail.loc[ids].apply(
        lambda row: "+".join(m for m, h in row.items() if h), axis=1).to_numpy()
    pred.insert(1, "bundle_config_hash", b.config_hash)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, pred)
    return PredictionResult(path=path, n_patients=len(pred), notes=tuple(notes))


def _without(data, modality: str):
    """The data with an empty table for a modality the cohort has no features for."""
    from dataclasses import replace

    if modality == "pathology":
        return replace(data, pathology={})
    empty = pd.DataFrame(index=pd.Index([], name="patient_id"))
    return replace(data, **{modality: empty})
