"""Unit NewTypes and the enumerations shared by every module.

The unit lives in the name: a function that takes ``DiameterMm`` says so in its signature.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

Days = NewType("Days", float)
DiameterMm = NewType("DiameterMm", float)
SpacingMm = NewType("SpacingMm", float)
Mpp = NewType("Mpp", float)
PatientId = NewType("PatientId", str)


class Severity(StrEnum):
    """How bad a validation finding is: errors block an import, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class CohortKind(StrEnum):
    RETROSPECTIVE = "retrospective"
    PROSPECTIVE = "prospective"


class Reader(StrEnum):
    R1 = "R1"
    R2 = "R2"
    MDT = "MDT"


class TreatmentKind(StrEnum):
    TACE = "TACE"
    HAIC = "HAIC"
    TKI = "TKI"
    PD1 = "PD1"
    OTHER_ANTICANCER = "other_anticancer"


class LesionKind(StrEnum):
    TARGET = "target"
    NON_TARGET = "non_target"
    NEW = "new"
