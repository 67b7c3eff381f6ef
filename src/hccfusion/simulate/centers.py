"""The two simulated hospitals, their case mix and the units their laboratories report in.

WX (Wuxi People's Hospital) is the development centre; NJ (First Affiliated Hospital of Nanjing
Medical University) is the external-validation centre, with a different case mix (more HAIC, more
portal-vein tumour thrombus, more tumour) so that external validation is a real test
(domain.md §0, §7.2). The study's accrual windows and the default data cut-off live here too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class CenterProfile:
    """Case mix and reporting habits of one hospital.

    Parameters
    ----------
    code
        Short code, the prefix of every patient ID (``WX-0001``).
    share
        Share of the simulated patients recruited here.
    burden_shift, pvtt_shift, ehs_shift
        Shifts (in latent z units) of tumour burden and of the liabilities of portal-vein tumour
        thrombus and extrahepatic spread.
    haic_logit
        Intercept of the logit of choosing HAIC over TACE (domain.md §4: TACE 60–75 % overall,
        HAIC more in PVTT/large tumours).
    lenvatinib_share
        Share of patients on lenvatinib (domain.md §4: 60–80 %).
    lab_units
        Unit each lab test is reported in; tests not listed use the canonical SI unit.
    record_prefix
        Prefix of the hospital record number.
    area_codes
        First six digits of national ID numbers of the catchment area (Jiangsu).
    """

    code: str
    share: float
    burden_shift: float
    pvtt_shift: float
    ehs_shift: float
    haic_logit: float
    lenvatinib_share: float
    lab_units: Mapping[str, str] = field(default_factory=dict)
    record_prefix: str = ""
    area_codes: tuple[str, ...] = ()


CENTER_PROFILES: tuple[CenterProfile, ...] = (
    CenterProfile(code="WX", share=0.6, burden_shift=0.0, pvtt_shift=-0.15, ehs_shift=0.0,
                  haic_logit=-1.6, lenvatinib_share=0.72,
                  lab_units=MappingProxyType({"platelets": "×10^9/L", "neutrophils": "×10^9/L",
                                              "lymphocytes": "×10^9/L", "wbc": "×10^9/L"}),
                  record_prefix="", area_codes=("320202", "320205", "320211", "320213", "320281")),
    # NJ reports bilirubin and creatinine in mg/dL, albumin in g/dL and CRP in mg/dL.
    CenterProfile(code="NJ", share=0.4, burden_shift=0.3, pvtt_shift=0.35, ehs_shift=0.15,
                  haic_logit=-0.3, lenvatinib_share=0.62,
                  lab_units=MappingProxyType({"bilirubin": "mg/dL", "albumin": "g/dL",
                                              "crp": "mg/dL", "creatinine": "mg/dL",
                                              "hemoglobin": "g/dL", "afp": "ng/mL"}),
                  record_prefix="ZY", area_codes=("320102", "320104", "320105", "320106", "320115")),
)

#: Retrospective accrual (domain.md §5: 2019–2024) and prospective accrual (brief: 2025-10 to
#: 2026-06), first and last possible index dates.
RETROSPECTIVE_ACCRUAL = (dt.date(2019, 1, 1), dt.date(2024, 12, 31))
PROSPECTIVE_ACCRUAL = (dt.date(2025, 10, 1), dt.date(2026, 6, 15))
DEFAULT_CUTOFF = dt.date(2026, 6, 30)
#: Size of the prospective cohort in the registration (domain.md §0).
PROSPECTIVE_TARGET = 150
#: Retrospective patients need >= 3 months of potential follow-up (domain.md §10 decision 3).
MIN_POTENTIAL_FOLLOWUP_DAYS = 90


def centers_for(n_centers: int) -> tuple[CenterProfile, ...]:
    """The first ``n_centers`` profiles (1 or 2)."""
    from hccfusion.errors import UsageError

    if n_centers not in (1, 2):
        raise UsageError(f"The 'n_centers' parameter of simulate_latent must be 1 or 2 (the study "
                         f"has two hospitals). Got {n_centers!r} instead.")
    return CENTER_PROFILES[:n_centers]
