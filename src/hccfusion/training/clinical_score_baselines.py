"""Published clinical scores used as baselines (domain.md §7.3): no fitting.

Each score column of the endpoints' ``baseline_scores`` table (written by
:func:`hccfusion.clinical.scores_baseline.baseline_scores`) is mapped to an ordinal risk, 0 for
the most favourable category and higher = worse, by the table :data:`CLINICAL_SCORES`. The
categories are exactly those the scoring code in :mod:`hccfusion.clinical.scores` /
:mod:`hccfusion.clinical.scores_staging` emits. Holds :class:`ClinicalScore`,
:data:`CLINICAL_SCORES`, :func:`score_risk` and :class:`ClinicalScoreBaseline`; the fitted
baselines are in :mod:`hccfusion.training.baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

__all__ = ["ClinicalScore", "CLINICAL_SCORES", "score_risk", "ClinicalScoreBaseline"]

# --------------------------------------------------------------------------- clinical scores


@dataclass(frozen=True)
class ClinicalScore:
    """How one published score column maps to an ordinal risk.

    Attributes
    ----------
    column
        Column of the ``baseline_scores`` table.
    levels
        Categories from the most favourable to the least favourable; the risk of a patient is
        the position of its category here (0, 1, 2, …; higher = worse).
    name
        Human-readable name of the score.
    source
        The publication that defines the score and its ordering.
    """

    column: str
    levels: tuple[str, ...]
    name: str
    source: str


def _score(column: str, levels: tuple[str, ...], name: str, source: str) -> ClinicalScore:
    return ClinicalScore(column=column, levels=levels, name=name, source=source)


#: Published score columns of ``endpoints/baseline_scores`` → ordinal risk (higher = worse).
#: ``levels`` run from the best to the worst prognosis, as each score's paper orders its groups.
CLINICAL_SCORES: dict[str, ClinicalScore] = {s.column: s for s in (
    _score("bclc_2022", ("0", "A", "B", "C", "D"), "BCLC stage (2022)",
           "Reig M et al., J Hepatol 2022: stages 0 < A < B < C < D"),
    _score("cnlc", ("Ia", "Ib", "IIa", "IIb", "IIIa", "IIIb", "IV"), "China Liver Cancer stage",
           "Chinese guideline for primary liver cancer, 2024 edition: Ia < Ib < IIa < IIb < "
           "IIIa < IIIb < IV"),
    _score("child_pugh_class", ("A", "B", "C"), "Child-Pugh class",
           "Pugh RN et al., Br J Surg 1973: A < B < C"),
    _score("albi_grade", ("1", "2", "3"), "ALBI grade",
           "Johnson PJ et al., J Clin Oncol 2015: grade 1 < 2 < 3"),
    _score("malbi_grade", ("1", "2a", "2b", "3"), "modified ALBI grade",
           "Hiraoka A et al., Liver Cancer 2017: 1 < 2a < 2b < 3"),
    _score("up_to_7", ("within", "beyond"), "up-to-seven criterion",
           "Mazzaferro V et al., Lancet Oncol 2009: within < beyond"),
    _score("up_to_11", ("within", "beyond"), "up-to-eleven criterion",
           "Kim JH et al., Liver Int 2017 (up-to-11 for TACE): within < beyond"),
    _score("six_and_twelve", ("low", "intermediate", "high"), "six-and-twelve score",
           "Wang Q et al., J Hepatol 2019: largest diameter (cm) + number <= 6 (low) < <= 12 "
           "(intermediate) < > 12 (high)"),
    _score("seven_eleven", ("<=7", "7-11", ">11"), "seven-eleven criteria",
           "tumour-burden cut-offs 7 and 11 of largest diameter (cm) + number, as "
           "hccfusion.clinical.scores.tumour_burden: <= 7 < 7-11 < > 11 (increasing burden)"),
    _score("hap", ("A", "B", "C", "D"), "HAP score",
           "Kadalayil L et al., Ann Oncol 2013: HAP A < B < C < D"),
    _score("mhap2", ("A", "B", "C", "D"), "mHAP-II score",
           "Park Y et al., Oncotarget 2016: mHAP-II A < B < C < D"),
    _score("albi_tae", ("A", "B", "C", "D"), "ALBI-TAE score",
           "Hiraoka / Ho et al. (domain.md 3.5): A (0 points) < B < C < D (3 points)"),
    _score("state_group", ("suitable", "unsuitable"), "STATE score group",
           "Hucke F et al., J Hepatol 2014: STATE >= 18 (suitable) < STATE < 18 (unsuitable "
           "for a first TACE)"),
    _score("crafity", ("low", "intermediate", "high"), "CRAFITY score",
           "Scheiner B et al., J Hepatol 2022: 0 points (low) < 1 (intermediate) < 2 (high)"),
    _score("nlr_group", ("low", "high"), "neutrophil-to-lymphocyte ratio group",
           "inflammation ratios (domain.md 3.8; hccfusion.clinical.scores."
           "inflammation_ratios): NLR below the cut-off (low) < at or above it (high)"),
    _score("plr_group", ("low", "high"), "platelet-to-lymphocyte ratio group",
           "inflammation ratios (domain.md 3.8; hccfusion.clinical.scores."
           "inflammation_ratios): PLR below the cut-off (low) < at or above it (high)"),
)}


def _check_score_name(score: object, where: str) -> ClinicalScore:
    if not isinstance(score, str):
        raise UsageError(f"The 'score' parameter of {where} must be the name of a score column "
                         f"(one of {', '.join(CLINICAL_SCORES)}). Got {score!r} instead.")
    if score not in CLINICAL_SCORES:
        raise unknown_option("clinical score", score, tuple(CLINICAL_SCORES))
    return CLINICAL_SCORES[score]


def _as_level(value: object) -> str:
    """The category label of a cell: integral numbers (e.g. ALBI grade 2 read as 2.0) → "2"."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def score_risk(frame: pd.DataFrame, score: str) -> pd.Series:
    """Ordinal risk of one published clinical score (higher = worse).

    Parameters
    ----------
    frame
        A ``baseline_scores`` table (or any frame holding the score column), one row per
        patient; ``patient_id`` as a column or as the index names patients in errors.
    score
        A key of :data:`CLINICAL_SCORES`, e.g. ``"crafity"`` or ``"bclc_2022"``.

    Returns
    -------
    pandas.Series
        float, indexed like ``frame``, named ``score``: the position of each patient's category
        in ``CLINICAL_SCORES[score].levels`` (0 = most favourable); NaN where the score is
        missing.

    Raises
    ------
    UsageError
        Unknown score name (with a did-you-mean hint).
    DataError
        ``frame`` lacks the column, or a category not in the table (names patient and value).

    Examples
    --------
    >>> f = pd.DataFrame({"patient_id": ["a", "b", "c"], "crafity": ["high", None, "low"]})
    >>> score_risk(f, "crafity").tolist()
    [2.0, nan, 0.0]
    """
    spec = _check_score_name(score, "score_risk")
    if not isinstance(frame, pd.DataFrame):
        raise UsageError("The 'frame' parameter of score_risk must be a pandas DataFrame. "
                         f"Got {type(frame).__name__} instead.")
    if spec.column not in frame.columns:
        raise DataError(f"score_risk: the table has no column '{spec.column}' ({spec.name}); "
                        "pass the endpoints' baseline_scores table, which holds every "
                        "published score.")
    values = frame[spec.column]
    code = {level: float(i) for i, level in enumerate(spec.levels)}
    present = values.notna().to_numpy()
    levels = pd.Series([_as_level(v) for v in values[present]], dtype=object)
    codes = levels.map(code).to_numpy(dtype=float)
    unknown = np.isnan(codes)
    if unknown.any():
        pos = int(np.flatnonzero(present)[np.flatnonzero(unknown)[0]])
        raw = values.iloc[pos]
        pid = frame["patient_id"].iloc[pos] if "patient_id" in frame.columns else frame.index[pos]
        raise DataError(f"score_risk: patient {pid} has {spec.column} = {raw!r}, which is not a "
                        f"category of the {spec.name}. Expected one of "
                        f"{', '.join(spec.levels)} (or missing). Fix the value or recompute the "
                        "baseline scores.")
    out = np.full(len(frame), np.nan)
    out[present] = codes
    return pd.Series(out, index=frame.index, name=spec.column, dtype="float64")


class ClinicalScoreBaseline:
    """A published clinical score used as a risk model (nothing is fitted).

    Parameters
    ----------
    score
        A key of :data:`CLINICAL_SCORES`.

    Attributes
    ----------
    levels_
        The ordered categories (best → worst), set by ``fit``.
    source_
        The score's publication.
    """

    def __init__(self, score: str) -> None:
        self.score = score

    def fit(self, *, X: Any = None, time: Any = None, event: Any = None,
            y: Any = None) -> ClinicalScoreBaseline:
        """No-op (the score is published); validates the score name and returns ``self``."""
        spec = _check_score_name(self.score, "ClinicalScoreBaseline")
        self.levels_ = spec.levels
        self.source_ = spec.source
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk, shape (n,), float; NaN where the score is missing (see :func:`score_risk`).

        Parameters
        ----------
        X
            The ``baseline_scores`` table (not a preprocessed matrix).
        """
        if not hasattr(self, "levels_"):
            self.fit()
        return score_risk(X, self.score).to_numpy()
