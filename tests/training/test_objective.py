"""The training objective: the group-lasso penalty on input features and the wide term."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hccfusion.models.multimodal import build_model  # noqa: E402
from hccfusion.training.config import ModelConfig, TrainingConfig  # noqa: E402
from hccfusion.training.loop import fit_model  # noqa: E402
from hccfusion.training.objective import input_group_norm  # noqa: E402
from tests.training.test_loop import split_ids, synthetic_study  # noqa: E402


def _net(wide):
    torch.manual_seed(0)
    return build_model({
        "modalities": {"clinical": {"encoder": "tabular", "in_dim": 5, "hidden": [4]},
                       "radiomics": {"encoder": "tabular", "in_dim": 3, "hidden": [4]},
                       "pathology": {"encoder": "mil", "pooler": "mean", "in_dim": 2}},
        "embed_dim": 4, "heads": {"os": {"kind": "cox"}, "response": True}, "wide": wide})


def test_group_norm_sums_each_input_feature_over_deep_and_wide_weights():
    net = _net(["clinical"])
    with torch.no_grad():
        net.wide["clinical"].weight.fill_(0.5)
    clin = torch.cat([net.encoders["clinical"].input_weight, net.wide["clinical"].weight])
    expected = clin.norm(dim=0).sum() + net.encoders["radiomics"].input_weight.norm(dim=0).sum()
    assert clin.shape == (4 + 2, 5)  # hidden rows + one wide row per head (os, response)
    assert torch.allclose(input_group_norm(net), expected)
    # the MIL encoder has no input columns to select: only the tabular encoders count
    assert torch.allclose(input_group_norm(_net([])),
                          sum(_net([]).encoders[m].input_weight.norm(dim=0).sum()
                              for m in ("clinical", "radiomics")))


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n=90)


def test_the_penalty_shrinks_the_input_weights(study):
    train, val, _ = split_ids(study, n_train=60, n_val=15)
    model = ModelConfig(embed_dim=4, hidden=8, ensemble=1, radiomics_pca=4,
                        modalities=("clinical", "radiomics"), experts=False)
    norms = []
    for weight in (0.0, 0.5):
        fitted = fit_model(study, train_ids=train, val_ids=val, model=model,
                           training=TrainingConfig(epochs=25, patience=25, lr=1e-2, seed=0,
                                                   input_group_lasso=weight))
        norms.append(float(input_group_norm(fitted.net)))
    assert norms[1] < 0.7 * norms[0], norms
