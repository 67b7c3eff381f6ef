"""The study's inclusion and exclusion criteria, one named rule each (domain.md §0, §2.6, §10).

Every rule looks at one per-patient context row (built by
:func:`hccfusion.clinical.eligibility.assess_eligibility`) and gives ``pass``, ``fail`` or
``unknown`` (the data needed to decide is missing) with a human reason; a rule that does not
apply to the patient's cohort gives ``n/a``. ``RULE_ORDER`` is the fixed order of the CONSORT
flow: each excluded patient is counted once, at the first rule that did not pass.

Unknown counts as not eligible: a patient is included only when every applicable rule passes,
and the flow reports how many exclusions at each step were ``unknown`` rather than ``fail`` so
that a data manager can chase the missing values before the analysis freeze.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pandas as pd

PASS, FAIL, UNKNOWN, NOT_APPLICABLE = "pass", "fail", "unknown", "n/a"
BOTH = ("retrospective", "prospective")
RETRO = ("retrospective",)
PRO = ("prospective",)


@dataclass(frozen=True)
class Rule:
    """One eligibility criterion.

    ``check(ctx, settings)`` returns a DataFrame aligned with ``ctx`` with ``status``
    (pass/fail/unknown) and ``reason`` (empty when it passes); ``cohorts`` are the cohorts the
    rule applies to; ``label`` is the CONSORT wording of an exclusion at this rule.
    """

    name: str
    label: str
    cohorts: tuple[str, ...]
    check: Callable[[Any, Any], Any]


def _verdict(ctx: pd.DataFrame, *, fail: Any, unknown: Any, fail_reason: Any,
             unknown_reason: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    def as_bool(x: Any) -> Any:
        return pd.Series(x, index=ctx.index).fillna(False).astype(bool).to_numpy()

    def as_text(x: Any) -> Any:
        return pd.Series(x, index=ctx.index, dtype="object").fillna("").astype(str).to_numpy()

    u, f = as_bool(unknown), as_bool(fail)
    status = np.select([u, f], [UNKNOWN, FAIL], PASS)
    reason = np.select([u, f], [as_text(unknown_reason), as_text(fail_reason)], "")
    return pd.DataFrame({"status": status, "reason": reason}, index=ctx.index)


def _flag_rule(column: str, *, bad_when: bool, fail_reason: str) -> Callable[[Any, Any], Any]:
    """A yes/no field of the patients table: ``bad_when`` fails, missing is unknown."""

    def check(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
        value = ctx[column].astype("boolean")
        return _verdict(ctx, fail=value == bad_when, unknown=value.isna(),
                        fail_reason=fail_reason, unknown_reason=f"missing {column}")

    return check


def _age(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    age = ctx["age_years"].astype("Float64")
    out = (age < settings.age_min) | (age > settings.age_max)
    reason = "age " + age.astype("Int64").astype("string") + \
        f" outside {settings.age_min}–{settings.age_max}"
    return _verdict(ctx, fail=out, unknown=age.isna(), fail_reason=reason,
                    unknown_reason="missing age_years")


def _ecog(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    ecog = ctx["ecog"].astype("Int64")
    return _verdict(ctx, fail=ecog > 2, unknown=ecog.isna(),
                    fail_reason="ECOG " + ecog.astype("string") + " > 2",
                    unknown_reason="missing ecog")


def _bclc(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    bclc = ctx["bclc"].astype("string")
    return _verdict(ctx, fail=~bclc.isin(["A", "B", "C"]), unknown=bclc.isna(),
                    fail_reason="BCLC " + bclc + " (A, B or C required)",
                    unknown_reason="missing bclc")


def _diagnosis(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    import numpy as np

    date, basis = ctx["diagnosis_date"], ctx["diagnosis_basis"]
    d_na, b_na = date.isna().to_numpy(), basis.isna().to_numpy()
    unknown_reason = np.select([d_na & b_na, d_na],
                               ["missing diagnosis_date, diagnosis_basis", "missing diagnosis_date"],
                               "missing diagnosis_basis")
    after_t0 = ctx["t0"].notna() & date.notna() & (date > ctx["t0"])
    return _verdict(ctx, fail=after_t0, unknown=d_na | b_na,
                    fail_reason="HCC diagnosis dated after T0", unknown_reason=unknown_reason)


def _clinical_complete(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    import pandas as pd

    fields = list(settings.clinical_fields)
    gaps = ctx[fields].isna()
    reason = gaps.apply(lambda row: ", ".join(c for c in fields if row[c]), axis=1) \
        if len(ctx) else pd.Series([], dtype="object")
    # Incompleteness is itself the criterion here (domain.md §0 "complete clinical data"), so a
    # gap is a ``fail``, not an ``unknown``.
    return _verdict(ctx, fail=gaps.any(axis=1), unknown=False,
                    fail_reason="incomplete clinical data: missing " + reason.astype(str),
                    unknown_reason="")


def _child_pugh(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    lo, hi = ctx["cp_score_min"].astype("Int64"), ctx["cp_score_max"].astype("Int64")
    score = ctx["cp_score"].astype("Int64")
    certain_c = lo >= 10
    # Missing inputs only matter when they could still move the patient into class C.
    undecided = ~certain_c & (hi >= 10)
    fail_reason = ("Child–Pugh C" + score.astype("string")).where(
        score.notna(), "Child–Pugh C (score ≥ " + lo.astype("string") + " despite missing inputs)")
    return _verdict(ctx, fail=certain_c, unknown=undecided, fail_reason=fail_reason,
                    unknown_reason="missing baseline " + ctx["cp_missing"].astype(str))


def _prior_therapy(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    flag = ctx["prior_hcc_therapy"].astype("boolean")
    before = ctx["prior_other_agent"].notna()
    reason = ("other anticancer treatment (" + ctx["prior_other_agent"].astype("string")
              + ") before T0").where(before, "prior local or systemic HCC therapy")
    return _verdict(ctx, fail=(flag == True) | before, unknown=flag.isna() & ~before,  # noqa: E712
                    fail_reason=reason, unknown_reason="missing prior_hcc_therapy")


def _combination(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    import numpy as np

    parts = {"TACE/HAIC": "first_ia_date", "TKI": "first_tki_date", "PD-1": "first_pd1_date"}
    lacking = [", ".join(k for k, c in parts.items() if not has[c])
               for _, has in ctx[list(parts.values())].notna().iterrows()]
    got = ctx["combination_received"].fillna(False).astype(bool)
    return _verdict(ctx, fail=~got, unknown=False,
                    fail_reason=np.array(["combination incomplete: no " + x for x in lacking],
                                         dtype=object), unknown_reason="")


def _followup(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    import pandas as pd

    cutoff = pd.Timestamp(settings.cutoff)
    days = settings.followup_days
    t0, last, death = ctx["t0"], ctx["last_contact_date"], ctx["death_date"]
    potential = (cutoff - t0).dt.days
    short = potential < days
    fail_reason = ("potential follow-up " + potential.astype("Int64").astype("string")
                   + f" days < {days} (T0 too close to the data cut-off)")
    if settings.followup_rule == "potential":
        # domain.md §10 decision 3: early deaths stay in, so no immortal time is created.
        unknown = t0.isna() | last.isna()
        unknown_reason = pd.Series("missing followup.last_contact_date", index=ctx.index) \
            .where(t0.notna(), "missing T0")
        return _verdict(ctx, fail=short, unknown=unknown, fail_reason=fail_reason,
                        unknown_reason=unknown_reason)
    died_early = death.notna() & ((death - t0).dt.days < days) & (death <= cutoff)
    followed_until = pd.concat([last, death], axis=1).max(axis=1).clip(upper=cutoff)
    followed = (followed_until - t0).dt.days
    lost_early = ~died_early & (followed < days)
    reason = fail_reason.where(short, (
        ("died " + (death - t0).dt.days.astype("Int64").astype("string")
         + f" days after T0 (< {days})").where(
            died_early, "followed " + followed.astype("Int64").astype("string")
            + f" days after T0 (< {days})")))
    unknown = t0.isna() | (last.isna() & death.isna())
    unknown_reason = pd.Series("missing followup.last_contact_date", index=ctx.index) \
        .where(t0.notna(), "missing T0")
    return _verdict(ctx, fail=short | died_early | lost_early, unknown=unknown,
                    fail_reason=reason, unknown_reason=unknown_reason)


def _imaging(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    ok = ctx["baseline_exam_phased"].astype("boolean").fillna(False).astype(bool)
    unclear = ~ok & ctx["baseline_exam_phases_missing"].astype("boolean").fillna(False).astype(bool)
    unknown_reason = _where(ctx["t0"].isna(), "missing T0",
                              "missing exams.phases of the baseline exam")
    return _verdict(ctx, fail=~ok & ctx["t0"].notna(), unknown=ctx["t0"].isna() | unclear,
                    fail_reason="no baseline exam (on or before T0) with arterial and "
                                "portal-venous phases",
                    unknown_reason=unknown_reason)


def _where(cond: Any, yes: str, no: str) -> Any:
    import numpy as np

    return np.where(np.asarray(cond, dtype=bool), yes, no)


def _pathology(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    has = ctx["has_biopsy_wsi"].fillna(False).astype(bool)
    return _verdict(ctx, fail=~has, unknown=False,
                    fail_reason="no liver-biopsy whole-slide image (specimens kind biopsy_wsi)",
                    unknown_reason="")


def _consent(ctx: pd.DataFrame, settings: Any) -> pd.DataFrame:
    import pandas as pd

    date = ctx["consent_date"]
    late = date.notna() & (date > pd.Timestamp(settings.cutoff))
    return _verdict(ctx, fail=late, unknown=date.isna(),
                    fail_reason="consent dated after the data cut-off",
                    unknown_reason="missing consent_date")


def build_rules(settings: Any) -> tuple[Rule, ...]:
    """The rules in CONSORT order for ``settings`` (the age rule's name carries its bounds)."""
    lo, hi = settings.age_min, settings.age_max
    return (
        Rule("hcc_diagnosis_documented", "HCC diagnosis not documented", BOTH, _diagnosis),
        Rule(f"age_{lo}_{hi}", f"Age outside {lo}–{hi} years", BOTH, _age),
        Rule("ecog_0_2", "ECOG performance status > 2", BOTH, _ecog),
        Rule("bclc_a_b_c", "BCLC stage not A, B or C", BOTH, _bclc),
        Rule("child_pugh_not_c", "Child–Pugh class C", BOTH, _child_pugh),
        Rule("unresectable", "Resectable", BOTH,
             _flag_rule("unresectable", bad_when=False, fail_reason="resectable")),
        Rule("no_prior_therapy", "Prior local or systemic HCC therapy", BOTH, _prior_therapy),
        Rule("no_combined_hcc_cca", "Combined HCC–cholangiocarcinoma", BOTH,
             _flag_rule("combined_hcc_cca", bad_when=True,
                        fail_reason="combined HCC-cholangiocarcinoma on pathology")),
        Rule("no_other_malignancy", "Another concurrent malignancy", BOTH,
             _flag_rule("other_malignancy", bad_when=True,
                        fail_reason="another concurrent malignancy")),
        Rule("received_combination", "Did not receive TACE/HAIC + TKI + PD-1", RETRO,
             _combination),
        Rule("consent_signed", "No signed informed consent", PRO, _consent),
        Rule("biopsy_not_contraindicated", "Contraindication to liver biopsy", PRO,
             _flag_rule("biopsy_contraindicated", bad_when=True,
                        fail_reason="contraindication to liver biopsy or related tests")),
        Rule("able_to_follow_up", "Unable to comply with follow-up", PRO,
             _flag_rule("unable_to_follow_up", bad_when=True,
                        fail_reason="unable to comply with follow-up")),
        Rule("clinical_data_complete", "Incomplete clinical data", BOTH, _clinical_complete),
        Rule("imaging_available", "No baseline arterial + portal-venous imaging", BOTH, _imaging),
        Rule("pathology_available", "No liver-biopsy slide", BOTH, _pathology),
        Rule("followup_3_months", "Follow-up < 3 months", RETRO, _followup),
    )
