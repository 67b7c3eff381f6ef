"""Oracle metrics: pinned test vectors and a brute-force AUC."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hccfusion.errors import DataError
from hccfusion.simulate.oracle import harrell_c, oracle_metrics, roc_auc


def test_harrell_c_domain_vector():
    # domain.md §7.3: 5 comparable pairs, 4 concordant → 0.80 (risk higher = worse)
    c = harrell_c(time=np.array([2, 4, 6, 8]), event=np.array([1, 1, 0, 1]),
                  risk=np.array([0.9, 0.5, 0.7, 0.1]))
    assert c == pytest.approx(0.8)


def test_auc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    score = np.round(rng.normal(size=60), 1)  # ties on purpose
    label = rng.random(60) < 0.4
    pos, neg = score[label], score[~label]
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0
                     for p, n in itertools.product(pos, neg)])
    assert roc_auc(label=label, score=score) == pytest.approx(brute)
    assert roc_auc(label=label, score=-score) == pytest.approx(1 - brute)


def test_auc_needs_both_classes():
    with pytest.raises(DataError, match="both classes"):
        roc_auc(label=np.ones(5, bool), score=np.arange(5.0))


def test_oracle_beats_chance(truth_large):
    m = oracle_metrics(latent=truth_large.latent, outcomes=truth_large.outcomes)
    assert 0.68 < m.c_index_os < 0.85
    assert 0.65 < m.c_index_pfs < 0.85
    assert 0.65 < m.auc_orr < 0.9
    assert m.n_patients == 1000
