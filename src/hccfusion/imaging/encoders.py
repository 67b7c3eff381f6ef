"""3D deep encoders over multi-phase lesion crops: a registry, offline weights, a checksum.

An encoder maps windowed crops ``[N, C, Z, Y, X]`` (C phases, values in [0, 1]) to one
embedding per crop ``[N, dim]``. Its ``module`` is a plain ``torch.nn.Module`` that can be
trained end to end inside the multimodal model, or used frozen through :meth:`VolumeEncoder.encode`.

Pretrained weights load from a local file named in the config (MedicalNet ``resnet_*.pth``, any
checkpoint of the same architecture, or the packaged chest-CT I3ResNet-152); the file's SHA-256
is checked when given and always recorded in the spec. Nothing is downloaded.

Examples
--------
>>> import numpy as np
>>> from hccfusion.imaging.encoders import get_volume_encoder
>>> enc = get_volume_encoder("tiny_3d", in_channels=2)
>>> enc.encode(np.zeros((3, 2, 16, 16, 16), np.float32)).shape
(3, 64)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError, unknown_option
from hccfusion.imaging.encoders_registry import (
    INTENSITY_WINDOWS,
    EncoderEntry,
    LoadReport,
    check_in_channels,
    check_phase,
    map_checkpoint,
    registry,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "INTENSITY_WINDOWS",
    "VOLUME_ENCODERS",
    "LoadReport",
    "VolumeEncoder",
    "VolumeEncoderSpec",
    "get_volume_encoder",
]

logger = logging.getLogger(__name__)

#: Registered 3D encoders by name: ``resnet10_3d``, ``resnet18_3d``, ``resnet34_3d``,
#: ``resnet50_3d`` (MONAI, MedicalNet layout), ``i3resnet152_ct`` (optional, chest-CT weights from
#: ``hccfusion[imaging-pretrained]``) and ``tiny_3d`` (tests, CPU-only runs).
VOLUME_ENCODERS: dict[str, EncoderEntry] = registry()

# Crops may carry interpolation overshoot just outside [0, 1]; anything beyond this is not windowed.
_RANGE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class VolumeEncoderSpec:
    """What an encoder expects and which weights it holds; recorded with every embedding.

    Attributes
    ----------
    name : str
        Registry name.
    in_channels : int
        Phases per crop (C).
    crop_size_vox : tuple of int
        Recommended crop size (Z, Y, X) in voxels; any size of at least the encoder's minimum
        along each axis is accepted.
    spacing_mm : float
        Isotropic voxel spacing the crops should have (mm).
    intensity : str
        How HU were mapped to [0, 1]; a key of :data:`INTENSITY_WINDOWS` (level, width in HU).
    dim : int
        Embedding length.
    weights_sha256 : str or None
        SHA-256 of the weight file; None for a randomly initialised encoder.
    weights_path : str or None
        The weight file as given (or the packaged file); None for random initialisation.
    init_seed : int or None
        Seed of the random initialisation of layers no checkpoint filled.
    """

    name: str
    in_channels: int
    crop_size_vox: tuple[int, int, int]
    spacing_mm: float
    intensity: str
    dim: int
    weights_sha256: str | None
    weights_path: str | None
    init_seed: int | None = None

    @property
    def window_hu(self) -> tuple[float, float]:
        """``(level, width)`` in HU of :attr:`intensity`."""
        return INTENSITY_WINDOWS[self.intensity]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able provenance (tuples become lists)."""
        out = asdict(self)
        out["crop_size_vox"] = list(self.crop_size_vox)
        return out


class VolumeEncoder:
    """A 3D encoder: its :class:`VolumeEncoderSpec` and its ``torch.nn.Module``.

    Build one with :func:`get_volume_encoder`.

    Attributes
    ----------
    spec : VolumeEncoderSpec
    module : torch.nn.Module
        ``[B, C, Z, Y, X]`` float32 → ``[B, dim]``; trainable end to end.
    load_report : LoadReport or None
        How the checkpoint mapped onto the module (None without weights).
    min_size_vox : int
        Smallest accepted extent of each spatial axis.
    device : str
    """

    def __init__(
        self,
        *,
        spec: VolumeEncoderSpec,
        module: nn.Module,
        min_size_vox: int,
        device: str = "cpu",
        load_report: LoadReport | None = None,
    ) -> None:
        self.spec = spec
        self.module = module
        self.min_size_vox = min_size_vox
        self.device = device
        self.load_report = load_report

    def __repr__(self) -> str:
        weights = self.spec.weights_sha256[:12] if self.spec.weights_sha256 else "random"
        spec = self.spec
        return f"VolumeEncoder({spec.name!r}, in_channels={spec.in_channels}, dim={spec.dim}, weights={weights})"

    def freeze(self) -> VolumeEncoder:
        """Stop gradients into every parameter (for use as a frozen feature extractor); returns self."""
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        return self

    def check_crops(self, crops: object) -> np.ndarray:
        """``crops`` as a float32 array ``[N, C, Z, Y, X]`` in [0, 1], else a :class:`UsageError`."""
        array = np.asarray(crops)
        channels = self.spec.in_channels
        expected = f"a float array [N, {channels}, Z, Y, X] (Z, Y, X >= {self.min_size_vox})"
        if array.ndim != 5 or array.shape[1] != channels:
            raise UsageError(
                f"The 'crops' parameter of {self.spec.name}.encode must be {expected}. "
                f"Got shape {tuple(array.shape)} instead."
            )
        if array.shape[0] and min(array.shape[2:]) < self.min_size_vox:
            raise UsageError(
                f"The 'crops' parameter of {self.spec.name}.encode must be {expected}. "
                f"Got shape {tuple(array.shape)} instead; resample or pad the crops."
            )
        if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
            raise UsageError(
                f"The 'crops' parameter of {self.spec.name}.encode must be {expected}. Got dtype {array.dtype} instead."
            )
        array = array.astype(np.float32, copy=False)
        if array.size:
            if not np.isfinite(array).all():
                raise UsageError(
                    f"The 'crops' parameter of {self.spec.name}.encode must be finite. "
                    f"Got {int((~np.isfinite(array)).sum())} NaN or infinite voxels instead."
                )
            low, high = float(array.min()), float(array.max())
            if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
                level, width = self.spec.window_hu
                raise UsageError(
                    f"The 'crops' parameter of {self.spec.name}.encode must be windowed to [0, 1] "
                    f"({self.spec.intensity}: level {level:g} HU, width {width:g} HU). "
                    f"Got values in [{low:g}, {high:g}] instead."
                )
        return array

    def encode(self, crops: np.ndarray, *, batch_size: int = 8) -> np.ndarray:
        """Embed crops with the module in eval mode, without gradients.

        Parameters
        ----------
        crops
            float32 ``[N, C, Z, Y, X]``, values in [0, 1] (windowed as :attr:`spec.intensity`).
        batch_size
            Crops per forward pass; the result does not depend on it.

        Returns
        -------
        numpy.ndarray
            float32 ``[N, dim]``.

        Raises
        ------
        UsageError
            For a wrong shape, channel count, size below the minimum, non-finite or un-windowed
            values, or a non-positive ``batch_size``.
        """
        import torch

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(
                f"The 'batch_size' parameter of {self.spec.name}.encode must be a positive int. "
                f"Got {batch_size!r} instead."
            )
        array = self.check_crops(crops)
        out = np.empty((array.shape[0], self.spec.dim), dtype=np.float32)
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                for start in range(0, array.shape[0], batch_size):
                    batch = torch.from_numpy(np.ascontiguousarray(array[start : start + batch_size]))
                    features = self.module(batch.to(self.device))
                    out[start : start + batch.shape[0]] = features.float().cpu().numpy()
        finally:
            self.module.train(was_training)
        return out


def _check_device(device: object) -> str:
    if not isinstance(device, str) or not device:
        raise UsageError(
            f"The 'device' parameter of get_volume_encoder must be a torch device string. Got {device!r} instead."
        )
    return device


def get_volume_encoder(
    name: str,
    *,
    in_channels: int = 2,
    weights: str | Path | None = None,
    expected_sha256: str | None = None,
    device: str = "cpu",
    phase: int | str = -1,
    strict_weights: bool = True,
    seed: int = 0,
) -> VolumeEncoder:
    """Build a registered 3D encoder, optionally filled from a local checkpoint.

    Parameters
    ----------
    name
        A key of :data:`VOLUME_ENCODERS`.
    in_channels
        Phases per crop. A 1-channel checkpoint (MedicalNet) is inflated to this many channels:
        its first kernel is repeated and divided by ``in_channels``.
    weights
        Local checkpoint file (``.pth/.pt/.bin/.safetensors``; see
        :func:`hccfusion.io.weights.load_state_dict`). None: random initialisation, except
        for ``i3resnet152_ct``, which then uses its packaged chest-CT weights.
    expected_sha256
        The file's SHA-256; a different file is refused. The actual hash is recorded either way.
    device
        Torch device for the module, e.g. ``"cpu"`` or ``"cuda:0"``.
    phase
        Only for single-channel backbones (``i3resnet152_ct``): the channel index fed to it
        (default -1, the last phase, portal-venous), or ``"mean"`` to average the per-phase
        embeddings.
    strict_weights
        If True (default) a checkpoint with missing, unexpected or mis-shaped keys is refused;
        if False the matching tensors are loaded and the rest reported in ``load_report``.
    seed
        Seed of the random initialisation (layers no checkpoint fills), so untrained encoders are
        reproducible.

    Returns
    -------
    VolumeEncoder

    Raises
    ------
    UsageError
        Unknown name (with a did-you-mean hint), bad arguments, a missing file, or the optional
        package of ``i3resnet152_ct`` not installed (with an install hint).
    DataError
        Checksum mismatch, an unreadable checkpoint, or one that does not fit the architecture.
    """
    import torch

    from hccfusion.io.weights import load_state_dict, sha256_file

    if name not in VOLUME_ENCODERS:
        raise unknown_option("3D encoder", str(name), list(VOLUME_ENCODERS))
    entry = VOLUME_ENCODERS[name]
    in_channels = check_in_channels(in_channels)
    device = _check_device(device)
    if entry.single_channel:
        phase = check_phase(phase, in_channels)
    elif phase != -1:
        raise UsageError(
            f"The 'phase' parameter of get_volume_encoder is only used by single-channel backbones "
            f"(i3resnet152_ct); {name} takes all {in_channels} phases. Got {phase!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"The 'seed' parameter of get_volume_encoder must be an int. Got {seed!r} instead.")

    # read (and check) the weights first: a wrong file fails before the network is built
    if weights is None and entry.default_weights is not None:
        weights, packaged_sha256 = entry.default_weights()
        expected_sha256 = expected_sha256 or packaged_sha256
    state = None
    weights_sha256: str | None = None
    if weights is not None:
        state = load_state_dict(weights, expected_sha256=expected_sha256)
        weights_sha256 = expected_sha256.strip().lower() if expected_sha256 else sha256_file(weights)
        if entry.adapt_state is not None:
            state = entry.adapt_state(state)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = entry.build(in_channels, phase)

    report: LoadReport | None = None
    if state is not None and weights is not None and weights_sha256 is not None:
        target = getattr(module, entry.weights_target) if entry.weights_target else module
        report = map_checkpoint(target, state, source=weights, strict=strict_weights)
        logger.info("%s: weights %s (%s): %s", name, Path(weights).name, weights_sha256[:12], report.summary())

    module.to(device)
    spec = VolumeEncoderSpec(
        name=name,
        in_channels=in_channels,
        crop_size_vox=entry.crop_size_vox,
        spacing_mm=entry.spacing_mm,
        intensity=entry.intensity,
        dim=entry.dim,
        weights_sha256=weights_sha256,
        weights_path=str(weights) if weights is not None else None,
        init_seed=seed,
    )
    return VolumeEncoder(spec=spec, module=module, min_size_vox=entry.min_size_vox, device=device, load_report=report)
