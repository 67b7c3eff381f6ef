"""The time-point response rules the simulator needs to keep its truth coherent and to decide
where readers disagree (domain.md §1.4–§1.8, simplified to what the simulator produces: liver
targets, non-target lesions with a status, new lesions that are unequivocal).

This is not the study's endpoint engine (which derives responses from the readers' CRF
rows); it only labels the simulator's own truth so that the lesion sizes, the response
categories and the outcome table agree.
"""

from __future__ import annotations

from typing import Iterable, Sequence

RANK = {"CR": 0, "PR": 1, "SD": 2, "PD": 3, "NE": 4}


def _pct(current: float, reference: float) -> float:
    return round((current - reference) / reference * 100.0, 1)


def target_category(*, current: float, baseline: float, nadir: float, recist: bool) -> str:
    """Target-lesion response of one time point (domain.md §1.4, steps 2–5).

    ``recist`` adds RECIST 1.1's 5-mm absolute floor to PD; the mRECIST CR is "no viable
    tumour", the RECIST CR "all targets gone" — both are a sum of 0 here.
    """
    if nadir > 0:
        if _pct(current, nadir) >= 20.0 and (not recist or current - nadir >= 5.0):
            return "PD"
    elif current > 0:
        return "PD"  # reappearance after a target CR
    if current == 0:
        return "CR"
    if baseline > 0 and _pct(current, baseline) <= -30.0:
        return "PR"
    return "SD"


def overall_category(*, target: str, nontarget_statuses: Iterable[str], new_lesion: bool) -> str:
    """Overall time-point response from targets, non-targets and new lesions (§1.7)."""
    statuses = list(nontarget_statuses)
    if target == "PD" or new_lesion or "unequivocal_progression" in statuses:
        return "PD"
    if target == "CR":
        return "CR" if all(s == "absent" for s in statuses) else "PR"
    return target


def series_categories(*, sums: Sequence[float], nontarget: Sequence[Sequence[str]],
                      new_lesion: Sequence[bool], recist: bool) -> list[str]:
    """Overall category of every follow-up time point of one patient; ``sums[0]`` is the
    baseline (its own category is reported as ``"baseline"``). The nadir includes baseline."""
    out = ["baseline"]
    baseline = sums[0]
    nadir = baseline
    for i in range(1, len(sums)):
        t = target_category(current=sums[i], baseline=baseline, nadir=nadir, recist=recist)
        out.append(overall_category(target=t, nontarget_statuses=nontarget[i], new_lesion=new_lesion[i]))
        nadir = min(nadir, sums[i])
    return out


def best_overall_response(categories: Sequence[str]) -> str:
    """Unconfirmed BOR (domain.md §1.8): the best category up to and including the first PD;
    ``NE`` without any follow-up time point. ``categories`` excludes the baseline."""
    best = "NE"
    for c in categories:
        if RANK[c] < RANK[best]:
            best = c
        if c == "PD":
            break
    return best
