"""Per-centre harmonisation of the pathology tile features: which patients' statistics
standardise whom, and that no held-out patient reaches a training centre's statistics."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from hccfusion.training.config import ModelConfig, TrainingConfig  # noqa: E402
from hccfusion.training.loop import fit_model, make_batch, predict_frame  # noqa: E402
from hccfusion.training.site_scaler import (  # noqa: E402
    MIN_SITE_PATIENTS,
    fit_site_scaler,
    site_statistics,
)
from tests.training.test_loop import synthetic_study  # noqa: E402

MODEL = ModelConfig(embed_dim=4, hidden=8, radiomics_pca=4, ensemble=1)
QUICK = TrainingConfig(epochs=3, patience=3, lr=1e-2, seed=0)


def _stained(data, centre: str, scale: float, shift: float):
    """``data`` with the tile features of ``centre``'s patients scaled and shifted (a stain
    protocol of its own)."""
    bags = dict(data.pathology)
    for pid, bag in bags.items():
        if data.patients.at[pid, "center"] == centre:
            bags[pid] = dataclasses.replace(bag, features=(bag.features * scale + shift)
                                            .astype(np.float32))
    return dataclasses.replace(data, pathology=bags)


@pytest.fixture(scope="module")
def study():
    # NJ stains three times as strongly, offset by 5
    return _stained(synthetic_study(n=160, p_pathology=0.8), "NJ", 3.0, 5.0)


def _by_centre(data, centre):
    return [p for p in data.patient_ids if data.patients.at[p, "center"] == centre]


@pytest.fixture(scope="module")
def split(study):
    wx = _by_centre(study, "WX")
    return wx[:40], wx[40:55], wx[55:], _by_centre(study, "NJ")   # train, val, WX test, NJ


@pytest.fixture(scope="module")
def fitted(study, split):
    train, val, _, _ = split
    return fit_model(study, train_ids=train, val_ids=val, model=MODEL, training=QUICK)


def _tiles(data, ids):
    return np.concatenate([data.pathology[p].features for p in ids if p in data.pathology]
                          ).astype(np.float64)


def test_training_centres_get_their_training_patients_statistics(study, split, fitted):
    train, _, _, _ = split
    scaler = fitted.site_scaler
    assert set(scaler["sites"]) == {"WX"}          # only WX patients trained
    tiles = _tiles(study, train)
    np.testing.assert_allclose(scaler["sites"]["WX"]["mean"], tiles.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler["sites"]["WX"]["std"], tiles.std(axis=0), rtol=1e-6)
    assert scaler["sites"]["WX"]["n_patients"] == sum(p in study.pathology for p in train)
    assert fit_site_scaler(dataclasses.replace(study, pathology=None), train) is None


def test_another_centre_is_standardised_with_all_its_patients_whatever_ids_are_scored(
        study, split, fitted):
    _, _, _, nj = split
    have = [p for p in nj if p in study.pathology]
    tiles = _tiles(study, have)
    stats = site_statistics(fitted.site_scaler, study, have[:1])
    np.testing.assert_allclose(stats["NJ"][0], tiles.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["NJ"][1], tiles.std(axis=0), rtol=1e-6)
    # a patient's input is the same scored alone or with the whole centre
    alone = make_batch(fitted, study, have[:1])["pathology"][0]
    together = make_batch(fitted, study, have)["pathology"][0]
    assert torch.equal(alone, together)
    # and the stain difference is gone: NJ's harmonised tiles look like WX's
    wx_tiles = torch.cat(make_batch(fitted, study, split[2])["pathology"])
    nj_tiles = torch.cat(make_batch(fitted, study, have)["pathology"])
    assert float((wx_tiles.mean(0) - nj_tiles.mean(0)).abs().max()) < 0.5
    assert float((nj_tiles.std(0) / wx_tiles.std(0)).log().abs().max()) < 0.5


def test_held_out_values_never_reach_the_fit_or_the_training_centres_scoring(
        study, split, fitted):
    train, val, wx_test, nj = split
    held_out = wx_test + nj
    bags = dict(study.pathology)
    for pid in held_out:
        if pid in bags:
            bags[pid] = dataclasses.replace(bags[pid], features=bags[pid].features * 1000 + 7)
    broken = dataclasses.replace(study, pathology=bags)
    again = fit_model(broken, train_ids=train, val_ids=val, model=MODEL, training=QUICK)
    assert again.site_scaler == fitted.site_scaler and again.bag_scaler == fitted.bag_scaler
    pd.testing.assert_frame_equal(predict_frame(fitted, study, train + val),
                                  predict_frame(again, broken, train + val))
    # corrupting the other centre leaves a held-out WX patient's input as it was
    only_nj = dict(study.pathology)
    for pid in nj:
        if pid in only_nj:
            only_nj[pid] = dataclasses.replace(only_nj[pid], features=only_nj[pid].features + 9)
    other = dataclasses.replace(study, pathology=only_nj)
    a = make_batch(fitted, study, wx_test)["pathology"]
    b = make_batch(fitted, other, wx_test)["pathology"]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_small_new_centre_gets_the_pooled_training_statistics_with_a_warning(
        study, split, fitted):
    _, _, _, nj = split
    keep = [p for p in nj if p in study.pathology][:MIN_SITE_PATIENTS - 1]
    bags = {p: b for p, b in study.pathology.items()
            if study.patients.at[p, "center"] == "WX" or p in keep}
    small = dataclasses.replace(study, pathology=bags)
    with pytest.warns(UserWarning, match=rf"centre 'NJ' has {len(keep)} patient\(s\) with "
                                         rf"slides .* fewer than the {MIN_SITE_PATIENTS}"):
        stats = site_statistics(fitted.site_scaler, small, keep)
    np.testing.assert_array_equal(stats["NJ"][0], fitted.site_scaler["pooled"]["mean"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # a training centre never needs the fallback
        site_statistics(fitted.site_scaler, small, split[2])


def test_harmonisation_travels_in_the_bundle(study, split, fitted, tmp_path):
    from hccfusion.io.bundle import read_bundle
    from hccfusion.io.bundle_card import render_model_card
    from hccfusion.training.persist import load_fitted, save_fitted

    path = save_fitted(fitted, tmp_path / "bundle", training_config=QUICK.model_dump(),
                       cutoffs={}, feature_specs={m: {} for m in fitted.modalities},
                       summary={"n_patients": 55}, seed=0)
    again, _ = load_fitted(path)
    assert again.site_scaler == fitted.site_scaler
    ids = split[2] + split[3]
    pd.testing.assert_frame_equal(predict_frame(again, study, ids),
                                  predict_frame(fitted, study, ids), check_exact=True)
    card = render_model_card(read_bundle(path))
    assert ("Pathology tile features are standardised per centre: WX with the statistics of "
            "their training patients") in card
    assert "at least 20 patients" in card
    assert MODEL.harmonise_sites                      # on by default
    plain = fit_model(study, train_ids=split[0], val_ids=split[1], training=QUICK,
                      model=MODEL.model_copy(update={"harmonise_sites": False}))
    assert plain.site_scaler is None
