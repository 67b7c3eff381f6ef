"""Named random streams for the CT simulator.

Every random choice of a CT exam comes from a generator derived from the caller's ``seed`` and a
few names (patient, lesion, exam, purpose). Anatomy and lesion placement use names that do not
include the exam or the time point, so a patient's baseline and follow-up exams share them.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derived_rng(*, seed: int, keys: tuple[str, ...]) -> np.random.Generator:
    """A generator seeded by ``seed`` and a tuple of names.

    Parameters
    ----------
    seed : int
        The caller's seed (a non-negative integer).
    keys : tuple of str
        Names that select an independent stream, e.g. ``("anatomy", "WX-0001")``.

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng`` over a ``SeedSequence`` of ``seed`` and a stable 64-bit
        hash of each key (Python's ``hash`` is salted per process and is not used).
    """
    words = [int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little") for key in keys]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))
