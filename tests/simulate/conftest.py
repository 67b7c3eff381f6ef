"""Shared simulated cohorts (module-level caches keep the suite fast)."""

from __future__ import annotations

import functools

import pytest

from hccfusion.simulate.crf_tables import crf_tables
from hccfusion.simulate.latent import simulate_latent


@functools.lru_cache(maxsize=None)
def _truth(n: int, seed: int):
    return simulate_latent(n_patients=n, seed=seed)


@functools.lru_cache(maxsize=None)
def _tables(n: int, seed: int):
    return crf_tables(_truth(n, seed))


@pytest.fixture(scope="session")
def truth_small():
    return _truth(60, 11)


@pytest.fixture(scope="session")
def tables_small():
    return _tables(60, 11)


@pytest.fixture(scope="session")
def truth_large():
    return _truth(1000, 0)
