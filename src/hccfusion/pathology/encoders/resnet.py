"""ImageNet ResNet-50 with torchvision's parameter names, truncated after ``layer3``.

Truncation follows CLAM's ImageNet baseline (``resnet50_trunc``): ``layer3``'s 1024-channel
map (stride 16) is averaged over space → 1024-d, which transfers to histology better than the
ImageNet-specific ``layer4``. A torchvision checkpoint (``resnet50-0676ba61.pth``,
IMAGENET1K_V1, or ``resnet50-11ad3fa6.pth``, V2) loads as is; its ``layer4.*`` and ``fc.*``
tensors are accepted and unused.

Names: ``conv1``, ``bn1``, ``layerL.B.{conv1, bn1, conv2, bn2, conv3, bn3}``,
``layerL.0.downsample.{0, 1}``; stride on the 3×3 convolution (ResNet v1.5, as torchvision).

References
----------
He K. et al. Deep residual learning for image recognition. CVPR 2016.
Lu M.Y. et al. Data-efficient and weakly supervised computational pathology on whole-slide
images (CLAM). Nature Biomedical Engineering 5:555–570, 2021.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResNet50Trunk"]


class _Bottleneck(nn.Module):
    def __init__(self, *, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out_ch = 4 * width
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(y + skip)


class ResNet50Trunk(nn.Module):
    """ResNet-50 stem plus ``layer1``–``layer3``; ``[B, 3, H, W]`` → ``[B, 16·base]``.

    Parameters
    ----------
    base : int
        Stem width (64 for ResNet-50; smaller only in tests).
    blocks : tuple of int
        Bottlenecks in layer1–3 (ResNet-50: (3, 4, 6)).
    """

    def __init__(self, *, base: int = 64, blocks: tuple[int, int, int] = (3, 4, 6)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = base
        for i, n in enumerate(blocks):
            width = base * 2**i
            layer = []
            for j in range(n):
                layer.append(_Bottleneck(in_ch=in_ch, width=width, stride=2 if (i and not j) else 1))
                in_ch = 4 * width
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.out_dim = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return x.mean(dim=(2, 3))
