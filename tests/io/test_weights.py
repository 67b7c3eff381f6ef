"""Reading local checkpoints: checksum, prefixes, nesting, and the named failure cases."""

from __future__ import annotations

import argparse
import hashlib

import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.io.weights import load_state_dict, sha256_file, strip_prefixes  # noqa: E402


def _state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 1, 3, 3, generator=gen), "conv.bias": torch.arange(4.0)}


def test_sha256_known_answer(tmp_path):
    # FIPS 180-2 test vector for "abc"
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_matches_hashlib_across_chunks(tmp_path):
    data = bytes(range(256)) * 9000  # > 2 MiB: several read chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_sha256_missing_file_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="existing file"):
        sha256_file(tmp_path / "nope.pt")


def test_nested_and_prefixed_checkpoint(tmp_path):
    state = _state()
    path = tmp_path / "resnet_10.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 7}, path)
    loaded = load_state_dict(path)
    assert set(loaded) == set(state)
    torch.testing.assert_close(loaded["conv.weight"], state["conv.weight"], rtol=0, atol=0)


@pytest.mark.parametrize("wrapper", ["model_state_dict", "model", "net"])
def test_other_nesting_keys(tmp_path, wrapper):
    state = _state()
    path = tmp_path / "ckpt.pt"
    torch.save({wrapper: state, "optimizer": {"lr": 0.1}}, path)
    assert set(load_state_dict(path)) == set(state)


def test_expected_sha256_passes_and_is_case_insensitive(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(load_state_dict(path, expected_sha256=digest.upper())) == {"conv.weight", "conv.bias"}


def test_wrong_sha256_is_data_error_naming_file(tmp_path):
    path = tmp_path / "resnet_18.pth"
    torch.save(_state(), path)
    with pytest.raises(DataError, match=r"resnet_18\.pth: sha256 [0-9a-f]{64} differs from the expected 0{64}"):
        load_state_dict(path, expected_sha256="0" * 64)


def test_malformed_expected_sha256_is_usage_error(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    with pytest.raises(UsageError, match="'expected_sha256' parameter of load_state_dict must be 64 hex"):
        load_state_dict(path, expected_sha256="abc123")


def test_missing_file_and_bad_suffix_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="existing checkpoint file"):
        load_state_dict(tmp_path / "missing.pth")
    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    with pytest.raises(UsageError, match=r"must end in one of .*Got 'weights.npz'"):
        load_state_dict(other)


def test_corrupt_file_is_data_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"this is not a zip archive nor a pickle" * 10)
    with pytest.raises(DataError, match=r"checkpoint broken\.pth: cannot be read with torch\.load"):
        load_state_dict(path)


def test_checkpoint_needing_unsafe_unpickling_is_refused(tmp_path):
    path = tmp_path / "with_args.pth"
    torch.save({"state_dict": _state(), "args": argparse.Namespace(depth=10)}, path)
    with pytest.raises(DataError, match=r"with_args\.pth: .*unsafe unpickling"):
        load_state_dict(path)


def test_checkpoint_without_tensors_is_data_error(tmp_path):
    path = tmp_path / "empty.pt"
    torch.save({"epoch": 3, "note": "nothing"}, path)
    with pytest.raises(DataError, match=r"empty\.pt: holds no tensors"):
        load_state_dict(path)


def test_safetensors_round_trip(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    state = _state()
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file({f"model.{k}": v for k, v in state.items()}, str(path))
    loaded = load_state_dict(path, expected_sha256=sha256_file(path))
    torch.testing.assert_close(loaded["conv.bias"], state["conv.bias"], rtol=0, atol=0)


def test_corrupt_safetensors_is_data_error(tmp_path):
    pytest.importorskip("safetensors.torch")
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"bad\.safetensors: not a readable safetensors file"):
        load_state_dict(path)


def test_strip_prefixes_only_when_every_key_has_them():
    value = torch.zeros(1)
    assert set(strip_prefixes({"module.model.a": value, "module.model.b": value})) == {"a", "b"}
    mixed = {"model.a": value, "head.b": value}
    assert set(strip_prefixes(mixed)) == set(mixed)
    assert set(strip_prefixes({"module.a": value}, prefixes=())) == {"module.a"}
