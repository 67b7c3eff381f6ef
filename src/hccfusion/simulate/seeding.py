"""Per-patient random streams: each patient's draws depend on the study seed, the stage and the
patient's own key, never on how many patients there are or in which order they are processed."""

from __future__ import annotations

import numpy as np

#: Stage numbers: one independent stream per stage and patient.
STAGE_LATENT = 1
STAGE_OUTCOMES = 2
STAGE_LESIONS = 3
STAGE_CRF = 4
STAGE_READS = 5
STAGE_ERRORS = 6
STAGE_MODALITY = 7


def patient_seed(seed: int, *, stage: int, center_index: int, number: int) -> np.random.SeedSequence:
    """Child seed of patient ``number`` (1-based) of centre ``center_index`` for ``stage``.

    Built with ``SeedSequence(seed, spawn_key=...)``, the same mechanism as
    ``SeedSequence.spawn``, so streams are independent and reproducible.
    """
    return np.random.SeedSequence(int(seed), spawn_key=(int(stage), int(center_index), int(number)))


def patient_rng(seed: int, *, stage: int, center_index: int, number: int) -> np.random.Generator:
    """``numpy.random.default_rng`` on :func:`patient_seed`."""
    return np.random.default_rng(patient_seed(seed, stage=stage, center_index=center_index,
                                              number=number))


def patient_int_seed(seed: int, *, stage: int, center_index: int, number: int) -> int:
    """A plain 32-bit integer seed for writers that take an ``int`` (CT, WSI, omics)."""
    ss = patient_seed(seed, stage=stage, center_index=center_index, number=number)
    return int(ss.generate_state(1, dtype=np.uint32)[0])

#: Sub-stages of the CRF rendering (one stream per table family).
STAGE_CRF_ANCHORS = 41
STAGE_CRF_PATIENTS = 42
STAGE_CRF_LABS = 43
STAGE_CRF_TREATMENTS = 44
STAGE_CRF_EVENTS = 45
STAGE_EXAMS = 51
