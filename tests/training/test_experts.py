"""Training the modality experts: who gets one, on which patients, and the scales."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.models.experts import ExpertsNet  # noqa: E402
from hccfusion.training.config import ModelConfig, TrainingConfig  # noqa: E402
from hccfusion.training.experts import MIN_EXPERT_PATIENTS  # noqa: E402
from hccfusion.training.loop import fit_model, make_batch, predict_frame  # noqa: E402
from tests.training.test_loop import split_ids, synthetic_study  # noqa: E402

MODEL = ModelConfig(embed_dim=4, hidden=8, radiomics_pca=4, ensemble=1)
QUICK = TrainingConfig(epochs=4, patience=4, lr=1e-2, seed=0)


@pytest.fixture(scope="module")
def study():
    # omics for about 15 % of patients: too few training patients for an omics expert
    return synthetic_study(n=100, p_omics=0.15)


@pytest.fixture(scope="module")
def fitted(study):
    train, val, _ = split_ids(study, n_train=70, n_val=15)
    return fit_model(study, train_ids=train, val_ids=val, model=MODEL, training=QUICK)


def test_every_modality_with_enough_training_patients_gets_an_expert(study, fitted):
    assert isinstance(fitted.net, ExpertsNet)
    avail = study.available().loc[list(fitted.train_ids)]
    expected = [m for m in fitted.modalities if avail[m].sum() >= MIN_EXPERT_PATIENTS]
    assert "omics" in fitted.modalities and "omics" not in expected
    linear = [f"{m}_linear" for m in ("clinical", "pathology") if m in expected]
    assert linear == ["clinical_linear", "pathology_linear"]
    linear.append("clinical+pathology_linear")          # the joint one comes last
    assert list(fitted.net.experts) == expected + linear == fitted.extra["experts"]
    # each expert net was trained on the training patients who have its modality
    history = fitted.history
    assert set(history["expert"].dropna()) == set(expected)


def test_scales_are_the_training_predictions_mean_and_sd(study, fitted):
    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    with torch.no_grad():
        _, values = fitted.net.component_values(make_batch(fitted, study, fit_ids))
    values = values.numpy().astype(np.float64)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an unfitted linear output is NaN
        center, sd = np.nanmean(values, axis=1), np.nanstd(values, axis=1, ddof=1)
    assert np.allclose(fitted.net.center.numpy(), np.nan_to_num(center), atol=1e-5)
    # an SD that is undefined or below 1e-6 counts as 1 (ExpertsNet.set_scales)
    expected = np.where(np.isfinite(sd) & (sd > 1e-6), sd, 1.0)
    assert np.allclose(fitted.net.scale.numpy(), expected, atol=1e-5)
    # on the training patients the combined risk is centred where the fused net's is
    pred = predict_frame(fitted, study, fit_ids)
    assert abs(pred["risk_os"].mean() - float(fitted.net.center[0, 0])) < \
        0.5 * float(fitted.net.scale[0, 0])


def test_experts_can_be_switched_off(study):
    train, val, _ = split_ids(study, n_train=70, n_val=15)
    plain = fit_model(study, train_ids=train, val_ids=val,
                      model=MODEL.model_copy(update={"experts": False}), training=QUICK)
    assert not isinstance(plain.net, ExpertsNet) and "experts" not in plain.extra
    single = fit_model(study, train_ids=train, val_ids=val,
                       model=MODEL.model_copy(update={"modalities": ("clinical",),
                                                      "linear_expert": False}),
                       training=QUICK)
    assert not isinstance(single.net, ExpertsNet)  # one modality: the fused net is the expert
    single = fit_model(study, train_ids=train, val_ids=val,
                       model=MODEL.model_copy(update={"modalities": ("clinical",)}),
                       training=QUICK)
    assert list(single.net.experts) == ["clinical_linear"]  # ... and the linear one joins it


def shrunk(skill: float, n: int, prior: float = MODEL.skill_prior_patients) -> float:
    return max(skill - 0.5, 0.0) * n / (n + prior)


def test_weights_are_each_components_skill_on_the_validation_patients_shrunk_for_their_number(
        study, fitted):
    from hccfusion.evaluation.binary import roc_auc
    from hccfusion.evaluation.concordance import harrell_c

    val = list(fitted.val_ids)
    with torch.no_grad():
        _, values = fitted.net.component_values(make_batch(fitted, study, val))
    t = study.targets.loc[val]
    nets = 1 + sum(not name.endswith("_linear") for name in fitted.net.experts)
    counts = set()
    for c in range(nets):  # the linear experts (last): their CV skill (below)
        for k, ep in enumerate(("os", "pfs")):
            v = values[c, :, k].numpy()
            ok = np.isfinite(v)
            counts.add(int(ok.sum()))
            skill = harrell_c(time=t[f"{ep}_time"][ok], event=t[f"{ep}_event"][ok],
                              risk=v[ok]).c
            assert float(fitted.net.weight[c, k]) == pytest.approx(shrunk(skill, ok.sum()),
                                                                   abs=1e-6)
        v, y = values[c, :, 2].numpy(), t["orr"].to_numpy(float)
        ok = np.isfinite(v) & np.isfinite(y)
        auc = roc_auc(y_true=y[ok].astype(int), score=v[ok]).auc
        assert float(fitted.net.weight[c, 2]) == pytest.approx(shrunk(auc, ok.sum()), abs=1e-6)
    assert len(counts) > 1   # experts judged on fewer patients (those with the modality)


def test_shrink_skill_is_the_normal_posterior_mean_toward_no_skill():
    from hccfusion.training.experts import shrink_skill

    skill = np.array([0.2, 0.2, 0.2, 0.1])
    n = np.array([100, 10, 0, 1000])
    np.testing.assert_allclose(shrink_skill(skill, n, 100.0), [0.1, 0.2 / 11, 0.0, 0.1 / 1.1])
    np.testing.assert_allclose(shrink_skill(skill, n, 0.0), [0.2, 0.2, 0.0, 0.1])
    # with the prior variance τ² and sampling variance σ²/n, the posterior mean of a skill
    # centred on 0 is ŝ τ² / (τ² + σ²/n): the same with prior = σ²/τ² patients
    tau2, sigma2 = 0.004, 0.36
    for k in range(4):
        posterior = skill[k] * tau2 / (tau2 + sigma2 / n[k]) if n[k] else 0.0
        assert shrink_skill(skill[k], n[k], sigma2 / tau2) == pytest.approx(posterior)


def test_no_shrinkage_weighs_the_raw_skill_and_shrinkage_only_rescales_it(study, fitted):
    train, val, _ = split_ids(study, n_train=70, n_val=15)
    raw = fit_model(study, train_ids=train, val_ids=val, training=QUICK,
                    model=MODEL.model_copy(update={"skill_prior_patients": 0.0}))
    # same nets and linear fits (same seed): only the weights differ, by n / (n + 100)
    for a, b in zip(raw.net.experts.values(), fitted.net.experts.values(), strict=True):
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y)
    w_raw, w = raw.net.weight.numpy(), fitted.net.weight.numpy()
    ratio = np.divide(w, w_raw, out=np.zeros_like(w), where=w_raw > 0)
    assert np.all((ratio[w_raw > 0] > 0) & (ratio[w_raw > 0] < 1))
    n = ratio[w_raw > 0] * 100 / (1 - ratio[w_raw > 0])   # the n each skill was measured on
    np.testing.assert_allclose(n, np.round(n), atol=1e-3)
    assert set(np.round(n).astype(int)) <= set(range(1, 86))
    with pytest.raises(ValueError, match="skill_prior_patients"):
        ModelConfig(skill_prior_patients=-1)


def test_without_validation_patients_the_components_weigh_the_same(study):
    train, _, _ = split_ids(study, n_train=85, n_val=0)
    fitted = fit_model(study, train_ids=train, val_ids=[], model=MODEL, training=QUICK)
    assert isinstance(fitted.net, ExpertsNet)
    assert torch.equal(fitted.net.weight, torch.ones_like(fitted.net.weight))


def test_linear_expert_is_the_cross_validated_elastic_net_on_all_training_patients(study, fitted):
    """Its OS and PFS coefficients are fit_coxnet_cv's on the preprocessed clinical matrix of
    the training and validation patients, and its weights are the cross-validated skill,
    shrunk for the number of patients of the cross-validation."""
    from hccfusion.training.elastic_net import fit_coxnet_cv
    from hccfusion.training.experts import LINEAR_L1_RATIO

    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    x = make_batch(fitted, study, fit_ids)["clinical"].numpy().astype(np.float64)
    linear = fitted.net.experts["clinical_linear"]
    row = 1 + list(fitted.net.experts).index("clinical_linear")
    for k, ep in enumerate(("os", "pfs")):
        t = study.targets.loc[fit_ids]
        ref = fit_coxnet_cv(x, t[f"{ep}_time"].to_numpy(float), t[f"{ep}_event"].to_numpy(bool),
                            l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed)
        np.testing.assert_allclose(linear.coef[k].numpy(), ref.coef, atol=1e-6)
        # an all-zero model (no variable survives the chosen penalty) ranks nobody: no vote
        skill = shrunk(ref.cv_c, len(fit_ids)) if np.any(ref.coef) else 0.0
        assert bool(linear.fitted[k]) == bool(np.any(ref.coef))
        assert float(fitted.net.weight[row, k]) == pytest.approx(skill, abs=1e-6)
    assert bool(linear.fitted[0])   # the synthetic OS has clinical signal
    # (that held-out patients cannot change it is the leakage test in test_loop.py)


def test_pathology_linear_expert_reads_the_standardised_bag_summaries_of_those_who_have_one(
        study, fitted):
    """Its coefficients are fit_coxnet_cv's / fit_logistic_cv's on the bag summaries (by
    default each feature's mean then its SD over the tiles) of the training and validation
    patients with slides, standardised by their own mean and SD."""
    from hccfusion.training.elastic_net import fit_coxnet_cv, fit_logistic_cv
    from hccfusion.training.experts import LINEAR_L1_RATIO

    assert MODEL.linear_bag_summary == "mean_sd"   # the default
    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    batch = make_batch(fitted, study, fit_ids)
    have = batch["available"][:, fitted.modalities.index("pathology")].numpy()
    assert 0 < have.sum() < len(fit_ids)            # some patients have no slide
    bags = [batch["pathology"][i].numpy().astype(np.float64) for i in np.flatnonzero(have)]
    means = np.stack([np.concatenate([b.mean(axis=0), b.std(axis=0)]) for b in bags])
    assert means.shape[1] == 2 * bags[0].shape[1]
    center, sd = means.mean(axis=0), means.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    linear = fitted.net.experts["pathology_linear"]
    np.testing.assert_allclose(linear.input_center.numpy(), center, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(linear.input_scale.numpy(), sd, rtol=1e-5)
    x = (means - center) / sd
    ids = [fit_ids[i] for i in np.flatnonzero(have)]
    t = study.targets.loc[ids]
    ref = fit_coxnet_cv(x, t["pfs_time"].to_numpy(float), t["pfs_event"].to_numpy(bool),
                        l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed)
    np.testing.assert_allclose(linear.coef[1].numpy(), ref.coef, atol=1e-5)
    y = t["orr"].to_numpy(float)
    ok = np.isfinite(y)
    ref = fit_logistic_cv(x[ok], y[ok], l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed)
    np.testing.assert_allclose(linear.coef[2].numpy(), ref.coef, atol=1e-5)
    assert float(linear.intercept[2]) == pytest.approx(ref.intercept, abs=1e-5)
    # it votes only for patients with slides
    with torch.no_grad():
        _, values = fitted.net.component_values(batch)
    row = 1 + list(fitted.net.experts).index("pathology_linear")
    assert torch.isnan(values[row, ~torch.as_tensor(have)]).all()


def test_linear_modalities_choose_which_linear_experts_are_fitted(study):
    train, val, _ = split_ids(study, n_train=70, n_val=15)
    clinical_only = fit_model(study, train_ids=train, val_ids=val, training=QUICK,
                              model=MODEL.model_copy(update={"linear_modalities": ("clinical",),
                                                             "linear_joint": ()}))
    assert [n for n in clinical_only.net.experts if n.endswith("_linear")] == ["clinical_linear"]
    with pytest.raises(UsageError, match="unknown linear-expert modality .genomics."):
        ModelConfig(linear_modalities=("genomics",))
    # the joint model is chosen on its own, in modality order
    joint_only = fit_model(study, train_ids=train, val_ids=val, training=QUICK,
                           model=MODEL.model_copy(update={
                               "linear_modalities": (),
                               "linear_joint": ("pathology", "clinical")}))
    assert [n for n in joint_only.net.experts if n.endswith("_linear")] \
        == ["clinical+pathology_linear"]
    with pytest.raises(ValueError, match="at least two modalities"):
        ModelConfig(linear_joint=("clinical",))
    with pytest.raises(ValueError, match="at least two modalities"):
        ModelConfig(linear_joint=("clinical", "clinical"))
    assert ModelConfig(linear_joint=("omics", "clinical")).linear_joint == ("clinical", "omics")


def test_joint_linear_expert_is_the_elastic_net_over_both_reads_of_those_who_have_both(
        study, fitted):
    """Its coefficients are fit_coxnet_cv's / fit_logistic_cv's on the preprocessed clinical
    matrix beside the standardised bag summaries, over the training and validation patients
    who have both; its weights are the cross-validated skill, shrunk; it votes only for
    patients who have both."""
    from hccfusion.training.elastic_net import fit_coxnet_cv, fit_logistic_cv
    from hccfusion.training.experts import LINEAR_L1_RATIO

    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    batch = make_batch(fitted, study, fit_ids)
    have = batch["available"][:, [fitted.modalities.index(m)
                                  for m in ("clinical", "pathology")]].numpy().all(axis=1)
    assert 0 < have.sum() < len(fit_ids)
    rows = np.flatnonzero(have)
    bags = [batch["pathology"][i].numpy().astype(np.float64) for i in rows]
    summary = np.stack([np.concatenate([b.mean(axis=0), b.std(axis=0)]) for b in bags])
    center, sd = summary.mean(axis=0), summary.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    x = np.hstack([batch["clinical"].numpy()[rows].astype(np.float64), (summary - center) / sd])
    joint = fitted.net.experts["clinical+pathology_linear"]
    assert joint.modalities == ("clinical", "pathology")
    reader = joint.readers[1]
    np.testing.assert_allclose(reader.input_center.numpy(), center, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reader.input_scale.numpy(), sd, rtol=1e-5)
    t = study.targets.loc[[fit_ids[i] for i in rows]]
    row = 1 + list(fitted.net.experts).index("clinical+pathology_linear")
    for k, ep in enumerate(("os", "pfs")):
        ref = fit_coxnet_cv(x, t[f"{ep}_time"].to_numpy(float), t[f"{ep}_event"].to_numpy(bool),
                            l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed)
        np.testing.assert_allclose(joint.coef[k].numpy(), ref.coef, atol=1e-5)
        skill = shrunk(ref.cv_c, len(rows)) if np.any(ref.coef) else 0.0
        assert float(fitted.net.weight[row, k]) == pytest.approx(skill, abs=1e-6)
    y = t["orr"].to_numpy(float)
    ok = np.isfinite(y)
    ref = fit_logistic_cv(x[ok], y[ok], l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed)
    np.testing.assert_allclose(joint.coef[2].numpy(), ref.coef, atol=1e-5)
    assert bool(joint.fitted[0])        # the synthetic OS has clinical signal
    with torch.no_grad():
        _, values = fitted.net.component_values(batch)
        direct = joint.features({"clinical": batch["clinical"][torch.as_tensor(have)],
                                 "pathology": [batch["pathology"][i] for i in rows]})
    np.testing.assert_allclose(direct.numpy(), x, rtol=1e-4, atol=1e-4)
    assert torch.isnan(values[row, ~torch.as_tensor(have)]).all()
    assert torch.isfinite(values[row, torch.as_tensor(have), 0]).all()


def test_a_repeated_linear_fit_is_served_from_the_cache_and_equals_a_fresh_one(study, fitted):
    from hccfusion.training import experts as module

    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    x = make_batch(fitted, study, fit_ids)["clinical"].numpy()
    targets = study.targets.loc[fit_ids]
    module._LINEAR_CACHE.clear()
    first, skill = module.fit_linear_expert(x, targets, seed=0)
    assert len(module._LINEAR_CACHE) == 1
    again, skill_again = module.fit_linear_expert(x, targets, seed=0)
    assert again is not first and len(module._LINEAR_CACHE) == 1
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(skill, skill_again)
    changed = targets.copy()
    changed.iloc[0, changed.columns.get_loc("os_time")] += 1.0
    module.fit_linear_expert(x, changed, seed=0)
    assert len(module._LINEAR_CACHE) == 2                 # other outcomes: a new fit


def test_os_values_vote_for_pfs_weighted_by_their_skill_at_ranking_pfs(study, fitted):
    """A net's OS value: its shrunk C against PFS on the validation patients; a linear
    expert's: the shrunk cross-validated C of its OS model's held-out risks against PFS."""
    from hccfusion.evaluation.concordance import harrell_c
    from hccfusion.training.elastic_net import fit_coxnet_cv
    from hccfusion.training.experts import LINEAR_L1_RATIO

    val = list(fitted.val_ids)
    with torch.no_grad():
        _, values = fitted.net.component_values(make_batch(fitted, study, val))
    t = study.targets.loc[val]
    names = list(fitted.net.experts)
    for c in range(1 + sum(not name.endswith("_linear") for name in names)):
        v = values[c, :, 0].numpy()
        ok = np.isfinite(v)
        skill = harrell_c(time=t["pfs_time"][ok], event=t["pfs_event"][ok], risk=v[ok]).c
        assert float(fitted.net.os_for_pfs[c]) == pytest.approx(shrunk(skill, ok.sum()),
                                                                abs=1e-6)
    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    x = make_batch(fitted, study, fit_ids)["clinical"].numpy().astype(np.float64)
    t = study.targets.loc[fit_ids]
    ref = fit_coxnet_cv(x, t["os_time"].to_numpy(float), t["os_event"].to_numpy(bool),
                        l1_ratio=LINEAR_L1_RATIO, folds=5, seed=QUICK.seed,
                        also={"pfs": (t["pfs_time"].to_numpy(float),
                                      t["pfs_event"].to_numpy(bool))})
    assert np.any(ref.coef)
    row = 1 + names.index("clinical_linear")
    assert float(fitted.net.os_for_pfs[row]) == pytest.approx(
        shrunk(ref.cv_c_also["pfs"], len(fit_ids)), abs=1e-6)
    assert float(fitted.net.os_for_pfs.sum()) > 0
    train, val_ids, _ = split_ids(study, n_train=70, n_val=15)
    off = fit_model(study, train_ids=train, val_ids=val_ids, training=QUICK,
                    model=MODEL.model_copy(update={"os_votes_for_pfs": False}))
    assert torch.equal(off.net.os_for_pfs, torch.zeros_like(off.net.os_for_pfs))
    assert torch.equal(off.net.weight, fitted.net.weight)   # the other votes are unchanged


def _survival_targets(lp, rng, *, orr_logit=None):
    import pandas as pd

    n = len(lp)
    t = rng.exponential(np.exp(-lp))
    c = rng.exponential(2.0, size=n)
    frame = {"os_time": np.minimum(t, c), "os_event": t <= c}
    t2 = rng.exponential(np.exp(-lp) / 2.0)
    frame.update({"pfs_time": np.minimum(t2, c), "pfs_event": t2 <= c})
    logit = lp if orr_logit is None else orr_logit
    frame["orr"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    return pd.DataFrame(frame)


def test_stacked_weights_give_the_informative_component_the_say_and_none_negative():
    """Three components: one carries the risk, one is its noisy copy, one is noise that the
    skill weights still favour. Stacking weighs the informative one most, the noise ~0, and
    keeps every weight >= 0; the combined ranking beats the skill-weighted one."""
    from hccfusion.training.experts import stacked_weights
    from hccfusion.training.metrics import harrell_c

    rng = np.random.default_rng(3)
    n = 600
    lp = rng.normal(size=n)
    targets = _survival_targets(lp, rng)
    signal = lp
    copy = lp + rng.normal(scale=2.0, size=n)
    noise = rng.normal(size=n)
    z = np.stack([np.stack([c, c, c], axis=1) for c in (signal, copy, noise)])   # [3, n, 3]
    z[1, :50] = np.nan                                  # a component that does not vote
    skill = np.full((3, 3), 0.1)
    skill[2] = 0.3                                      # misleading skill weights
    weight, cross = stacked_weights(z, targets, skill, np.zeros(3))
    assert (weight >= 0).all() and (cross >= 0).all()
    for k in range(3):
        assert weight[0, k] > weight[1, k] and weight[0, k] > 5 * weight[2, k]
    combined = np.nan_to_num(z[:, :, 1]).T @ weight[:, 1] + np.nan_to_num(z[:, :, 0]).T @ cross
    by_skill = np.nan_to_num(z[:, :, 1]).T @ skill[:, 1]
    c = {name: harrell_c(time=targets["pfs_time"].to_numpy(), event=targets["pfs_event"]
                         .to_numpy(), risk=r) for name, r in (("stacked", combined),
                                                                ("skill", by_skill))}
    assert c["stacked"] > c["skill"] + 0.05
    # without OS votes for PFS the cross weights stay 0
    _, cross = stacked_weights(z, targets, skill, None)
    assert (cross == 0).all()


def test_stacking_keeps_the_skill_weights_of_an_output_with_too_few_events_per_weight():
    """Ten events per weight: two components (OS 2 weights, PFS with OS votes 4, response 2)."""
    from hccfusion.training.experts import STACK_EVENTS_PER_WEIGHT, stacked_weights

    assert STACK_EVENTS_PER_WEIGHT == 10
    rng = np.random.default_rng(4)
    n = 60
    lp = rng.normal(size=n)
    targets = _survival_targets(lp, rng)
    targets["os_event"] = np.arange(n) < 19                  # 19 < 10 x 2: one short
    targets["pfs_event"] = np.arange(n) < 40                 # 40 = 10 x 4: enough
    targets["orr"] = (np.arange(n) < 20).astype(float)       # 20 responders: enough
    z = np.stack([np.stack([lp, lp, lp], axis=1), rng.normal(size=(n, 3))])
    skill = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    weight, cross = stacked_weights(z, targets, skill, np.array([0.1, 0.1]))
    np.testing.assert_array_equal(weight[:, 0], skill[:, 0])        # OS: too few events
    assert not np.array_equal(weight[:, 1], skill[:, 1])            # PFS: fitted
    assert not np.array_equal(weight[:, 2], skill[:, 2])            # response: fitted
    targets["pfs_event"] = np.arange(n) < 39
    targets["orr"] = (np.arange(n) < 19).astype(float)
    weight, cross = stacked_weights(z, targets, skill, np.array([0.1, 0.1]))
    np.testing.assert_array_equal(weight, skill)
    np.testing.assert_array_equal(cross, [0.1, 0.1])
    # without OS votes, PFS fits 2 weights: 20 events are enough
    targets["pfs_event"] = np.arange(n) < 20
    weight, cross = stacked_weights(z, targets, skill, None)
    assert not np.array_equal(weight[:, 1], skill[:, 1]) and (cross == 0).all()


def test_stacked_combination_uses_out_of_fold_linear_values_on_the_validation_patients():
    """With combine 'stacked' and enough validation events, the net's weights are
    stacked_weights of the validation values — the nets' own, and for each linear expert the
    held-out values of its cross-validation — standardised by the training-share scales."""
    from hccfusion.training import experts as module

    study = synthetic_study(n=400, p_omics=0.15, seed=5)
    train, val, _ = split_ids(study, n_train=160, n_val=240)
    model = MODEL.model_copy(update={"combine": "stacked"})
    seen = {}
    original = module.stacked_weights

    def spy(z, targets, weight, os_for_pfs, **kw):
        seen.update(z=z.copy(), ids=list(targets.index), skill=weight.copy(),
                    cross=os_for_pfs.copy())
        return original(z, targets, weight, os_for_pfs, **kw)

    module.stacked_weights = spy
    try:
        fitted = fit_model(study, train_ids=train, val_ids=val, model=model, training=QUICK)
    finally:
        module.stacked_weights = original
    net = fitted.net
    assert seen["ids"] == list(val)
    weight, cross = original(seen["z"], study.targets.loc[val], seen["skill"], seen["cross"],
                             ridge=model.stack_ridge)
    assert (weight >= 0).all() and not np.allclose(weight, seen["skill"])
    np.testing.assert_allclose(net.weight.numpy(), weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.os_for_pfs.numpy(), cross, rtol=1e-5, atol=1e-6)
    # the linear experts' validation values are their out-of-fold ones, not the refit's
    fit_ids = list(fitted.train_ids) + list(fitted.val_ids)
    batch = make_batch(fitted, study, fit_ids)
    with torch.no_grad():
        _, values = net.component_values(make_batch(fitted, study, list(val)))
    row = 1 + list(net.experts).index("clinical_linear")
    x = batch["clinical"].numpy().astype(np.float64)
    _, _, held = module.fit_linear_expert(x, study.targets.loc[fit_ids], seed=QUICK.seed,
                                          held_out=True)
    center, scale = net.center.numpy()[row], net.scale.numpy()[row]
    oof = (held[-len(val):] - center) / scale
    np.testing.assert_allclose(np.nan_to_num(seen["z"][row]), np.nan_to_num(oof), rtol=1e-4,
                               atol=1e-4)
    refit = (values[row].numpy() - center) / scale
    fitted_out = np.isfinite(refit[:, 0])
    assert not np.allclose(refit[fitted_out, 0], oof[fitted_out, 0], atol=1e-3)
