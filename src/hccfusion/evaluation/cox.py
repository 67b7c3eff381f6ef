"""Cox proportional-hazards models in the hccfusion survival vocabulary (domain.md §7.7).

Thin wrappers around lifelines' :class:`lifelines.CoxPHFitter` (Efron ties, Newton–Raphson
partial likelihood; Cox 1972, Efron 1977). The wrappers change names and shapes only, never
numbers: the hazard ratios, Wald confidence intervals and Wald p-values are lifelines' own, and a
parity test pins them against lifelines' ``summary`` and scikit-survival's
``CoxPHSurvivalAnalysis`` on ``lifelines.datasets.load_rossi``.

- :func:`cox_univariable` — one model per covariate (complete cases of that covariate).
- :func:`cox_multivariable` — one model with every covariate, optionally stratified (centre).
- :func:`proportional_hazards_test` — Grambsch–Therneau test on scaled Schoenfeld residuals.

Every table is tidy: one row per covariate with ``covariate, hr, ci_low, ci_high, p_value, coef,
se, n, events``. ``time`` is in days, ``event`` is True when the event was observed; a hazard
ratio above 1 means the covariate raises the hazard (higher = worse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    from lifelines import CoxPHFitter

COX_COLUMNS: tuple[str, ...] = (
    "covariate", "hr", "ci_low", "ci_high", "p_value", "coef", "se", "n", "events", "model")
PH_COLUMNS: tuple[str, ...] = ("covariate", "statistic", "df", "p_value", "transform", "n",
                               "events")
PH_TRANSFORMS: tuple[str, ...] = ("rank", "km", "identity", "log")


def _import_lifelines():  # noqa: ANN202 - returns the module
    try:
        import lifelines
    except ImportError as exc:  # pragma: no cover - lifelines is a core dependency
        raise UsageError("Cox models need lifelines; install it with `pip install lifelines`."
                         ) from exc
    return lifelines


def _check_columns(data: pd.DataFrame, names: Sequence[str], where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"The 'data' parameter of {where} must be a pandas DataFrame. "
                         f"Got {type(data).__name__} instead.")
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise UsageError(f"{where}: columns {missing} are not in 'data'. "
                         f"Available: {', '.join(map(str, data.columns))}")


def _prepare(data: pd.DataFrame, *, time: str, event: str, covariates: Sequence[str],
             strata: Sequence[str] | None, where: str) -> pd.DataFrame:
    """Complete cases of the model's columns, with ``event`` as 0/1 and covariates as float."""
    if isinstance(covariates, str) or len(covariates) == 0:
        raise UsageError(f"The 'covariates' parameter of {where} must be a non-empty list of "
                         f"column names. Got {covariates!r} instead.")
    strata = list(strata or [])
    _check_columns(data, [time, event, *covariates, *strata], where)
    overlap = set(covariates) & ({time, event} | set(strata))
    if overlap:
        raise UsageError(f"{where}: {sorted(overlap)} cannot be both a covariate and the time, "
                         "event or stratum column.")
    frame = data[[time, event, *covariates, *strata]].dropna()
    for name in covariates:
        column = frame[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise UsageError(f"{where}: covariate '{name}' has dtype {column.dtype}; Cox models "
                             "need numeric covariates. Dummy-encode categories first (for "
                             "example with pandas.get_dummies(drop_first=True)).")
    ev = frame[event]
    if not (pd.api.types.is_bool_dtype(ev) or set(pd.unique(ev)) <= {0, 1}):
        raise DataError(f"{where}: the event column '{event}' must be boolean (True = observed); "
                        f"got values {sorted(map(str, pd.unique(ev)))[:5]}.")
    if (frame[time] <= 0).any():
        raise DataError(f"{where}: the time column '{time}' must be > 0 days; "
                        f"{int((frame[time] <= 0).sum())} rows are not.")
    out = frame.astype({name: float for name in covariates})
    out[event] = out[event].astype(bool).astype(int)
    if out[event].sum() == 0:
        raise DataError(f"{where}: no events among the {len(out)} complete cases; "
                        "a Cox model cannot be fitted.")
    return out


def _fit(frame: pd.DataFrame, *, time: str, event: str, strata: Sequence[str] | None,
         confidence: float, penalizer: float) -> CoxPHFitter:
    lifelines = _import_lifelines()
    fitter = lifelines.CoxPHFitter(alpha=1.0 - confidence, penalizer=penalizer)
    fitter.fit(frame, duration_col=time, event_col=event, strata=list(strata) if strata else None)
    return fitter


def _tidy(fitter: CoxPHFitter, frame: pd.DataFrame, event: str, model: str) -> pd.DataFrame:
    summary = fitter.summary
    lower = next(c for c in summary.columns if c.startswith("exp(coef) lower"))
    upper = next(c for c in summary.columns if c.startswith("exp(coef) upper"))
    table = pd.DataFrame({
        "covariate": summary.index.astype(str),
        "hr": summary["exp(coef)"].to_numpy(),
        "ci_low": summary[lower].to_numpy(),
        "ci_high": summary[upper].to_numpy(),
        "p_value": summary["p"].to_numpy(),
        "coef": summary["coef"].to_numpy(),
        "se": summary["se(coef)"].to_numpy(),
        "n": len(frame),
        "events": int(frame[event].sum()),
        "model": model,
    })
    return table.loc[:, list(COX_COLUMNS)]


def _check_confidence(confidence: float, where: str) -> None:
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"The 'confidence' parameter of {where} must be in (0, 1). "
                         f"Got {confidence!r} instead.")


def cox_univariable(*, data: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                    strata: Sequence[str] | None = None, confidence: float = 0.95,
                    ) -> pd.DataFrame:
    """Univariable Cox models: one model per covariate.

    Each covariate is fitted alone on the complete cases of (time, event, covariate, strata),
    so ``n`` and ``events`` may differ between rows.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    time : str
        Column with follow-up time in days (> 0).
    event : str
        Column with the event indicator, True (or 1) when the event was observed.
    covariates : sequence of str
        Numeric columns; dummy-encode categorical variables before calling.
    strata : sequence of str, optional
        Columns to stratify the baseline hazard on (e.g. ``["centre"]``).
    confidence : float, default 0.95
        Level of the Wald confidence interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate, hr, ci_low, ci_high, p_value, coef, se, n, events, model``
        (``model == "univariable"``), one row per covariate, in the order given.

    Notes
    -----
    Cox (1972) partial likelihood with Efron (1977) ties, fitted by lifelines; HR = exp(β),
    CI = exp(β ± z·SE), Wald p = 2·(1 − Φ(|β|/SE)).

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> rossi = load_rossi()
    >>> table = cox_univariable(data=rossi, time="week", event="arrest", covariates=["age"])
    >>> round(float(table.loc[0, "hr"]), 3)
    0.93
    """
    _check_confidence(confidence, "cox_univariable")
    rows = []
    for name in covariates if not isinstance(covariates, str) else [covariates]:
        frame = _prepare(data, time=time, event=event, covariates=[name], strata=strata,
                         where="cox_univariable")
        fitter = _fit(frame, time=time, event=event, strata=strata, confidence=confidence,
                      penalizer=0.0)
        rows.append(_tidy(fitter, frame, event, "univariable"))
    return pd.concat(rows, ignore_index=True)


def cox_multivariable(*, data: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                      strata: Sequence[str] | None = None, confidence: float = 0.95,
                      ) -> pd.DataFrame:
    """Multivariable Cox model, optionally stratified (domain.md §7.7: centre as stratum).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    time : str
        Column with follow-up time in days (> 0).
    event : str
        Column with the event indicator, True (or 1) when the event was observed.
    covariates : sequence of str
        Numeric columns entered together; dummy-encode categories first.
    strata : sequence of str, optional
        Columns to stratify the baseline hazard on, e.g. ``["centre"]``; strata get no HR.
    confidence : float, default 0.95
        Level of the Wald confidence interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate, hr, ci_low, ci_high, p_value, coef, se, n, events, model``
        (``model == "multivariable"``); ``n``/``events`` are the complete cases of the model.
        ``DataFrame.attrs`` carries ``events_per_parameter`` (domain.md §7.7 asks for >= 10).

    Notes
    -----
    Cox (1972) partial likelihood with Efron (1977) ties, fitted by lifelines; a stratified
    model shares β across strata with a separate baseline hazard per stratum.
    """
    _check_confidence(confidence, "cox_multivariable")
    if isinstance(strata, str):
        strata = [strata]
    frame = _prepare(data, time=time, event=event, covariates=covariates, strata=strata,
                     where="cox_multivariable")
    fitter = _fit(frame, time=time, event=event, strata=strata, confidence=confidence,
                  penalizer=0.0)
    table = _tidy(fitter, frame, event, "multivariable")
    table.attrs["events_per_parameter"] = float(frame[event].sum()) / len(covariates)
    table.attrs["strata"] = list(strata or [])
    return table


def proportional_hazards_test(*, data: pd.DataFrame, time: str, event: str,
                              covariates: Sequence[str], strata: Sequence[str] | None = None,
                              transform: str = "rank") -> pd.DataFrame:
    """Test of proportional hazards per covariate from scaled Schoenfeld residuals.

    Fits the multivariable (optionally stratified) Cox model and runs lifelines'
    :func:`lifelines.statistics.proportional_hazard_test` on it.

    Parameters
    ----------
    data, time, event, covariates, strata
        As in :func:`cox_multivariable`.
    transform : {"rank", "km", "identity", "log"}, default "rank"
        Function of time the residuals are correlated with; "rank" is lifelines' and R's
        ``cox.zph(transform="rank")``-style default used in domain.md §7.7.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate, statistic, df, p_value, transform, n, events`` in the order of
        ``covariates``; a small p-value
        indicates a time-varying effect (non-proportional hazards).

    Notes
    -----
    Grambsch & Therneau (1994), *Biometrika* 81:515–526: score test of the slope of the scaled
    Schoenfeld residuals on g(t); χ² with 1 df per covariate.
    """
    if transform not in PH_TRANSFORMS:
        from hccfusion.errors import unknown_option
        raise unknown_option("transform", str(transform), PH_TRANSFORMS)
    if isinstance(strata, str):
        strata = [strata]
    frame = _prepare(data, time=time, event=event, covariates=covariates, strata=strata,
                     where="proportional_hazards_test")
    fitter = _fit(frame, time=time, event=event, strata=strata, confidence=0.95, penalizer=0.0)
    from lifelines.statistics import proportional_hazard_test
    result = proportional_hazard_test(fitter, frame, time_transform=transform)
    summary = result.summary
    names = [idx[0] if isinstance(idx, tuple) else idx for idx in summary.index]
    table = pd.DataFrame({
        "covariate": [str(name) for name in names],
        "statistic": summary["test_statistic"].to_numpy(dtype=float),
        "df": np.ones(len(summary), dtype=int),
        "p_value": summary["p"].to_numpy(dtype=float),
        "transform": transform,
        "n": len(frame),
        "events": int(frame[event].sum()),
    })
    order = {name: i for i, name in enumerate(covariates)}
    table = table.sort_values("covariate", key=lambda c: c.map(order)).reset_index(drop=True)
    return table.loc[:, list(PH_COLUMNS)]
