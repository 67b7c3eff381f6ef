"""Oracle performance: how well the true quantities of the simulation predict the simulated
observed outcomes — the ceiling any model trained on the cohort can approach.

- OS/PFS: Harrell's C (Harrell et al., Stat Med 1996) of the true linear predictor (higher =
  worse) against the observed times, computed with ``lifelines.utils.concordance_index``, which
  expects a score that is higher for *longer* survival: the predictor is negated.
- ORR: area under the ROC curve of the true probability of response against the realised
  mRECIST objective response, among response-evaluable patients, by the Mann–Whitney rank
  formula AUC = (R₁ − n₁(n₁+1)/2) / (n₁ n₀) with mid-ranks for ties (Hanley & McNeil,
  Radiology 1982).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from hccfusion.errors import DataError


@dataclass(frozen=True)
class OracleMetrics:
    """Oracle C-index for OS and PFS and oracle ROC AUC for mRECIST objective response."""

    c_index_os: float
    c_index_pfs: float
    auc_orr: float
    n_patients: int
    n_response_evaluable: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def harrell_c(*, time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C with ``risk`` higher = worse (lifelines on the negated risk)."""
    from lifelines.utils import concordance_index

    return float(concordance_index(np.asarray(time, float), -np.asarray(risk, float),
                                   np.asarray(event, bool)))


def roc_auc(*, label: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann–Whitney rank formula (ties count one half)."""
    label = np.asarray(label, bool)
    n1, n0 = int(label.sum()), int((~label).sum())
    if n1 == 0 or n0 == 0:
        raise DataError(f"ROC AUC needs both classes; got {n1} positives and {n0} negatives")
    ranks = rankdata(np.asarray(score, float))
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def oracle_metrics(*, latent: pd.DataFrame, outcomes: pd.DataFrame) -> OracleMetrics:
    """Oracle metrics of a simulated cohort (``SimulatedLatent.latent`` and ``.outcomes``)."""
    merged = latent[["patient_id", "lp_os", "lp_pfs", "p_response"]].merge(
        outcomes, on="patient_id", validate="one_to_one")
    evaluable = merged[merged["response_evaluable"]]
    return OracleMetrics(
        c_index_os=harrell_c(time=merged["os_days"], event=merged["os_event"], risk=merged["lp_os"]),
        c_index_pfs=harrell_c(time=merged["pfs_days"], event=merged["pfs_event"],
                              risk=merged["lp_pfs"]),
        auc_orr=roc_auc(label=evaluable["objective_response"], score=evaluable["p_response"]),
        n_patients=len(merged), n_response_evaluable=len(evaluable))
