"""What a tile encoder is: its declared input (:class:`EncoderSpec`), the registry entry that
builds it (:class:`EncoderEntry`) and the ready-to-use wrapper (:class:`TileEncoder`).

A registered encoder declares the resolution it expects (``input_mpp``), the tile size
(``tile_px``), the per-channel normalisation (``mean``/``std`` on 0–1 RGB), the output
dimension and — where known — the checksum of its weight file. :class:`TileEncoder` turns
``uint8 [B, H, W, 3]`` RGB tiles into ``float32 [B, dim]`` features with exactly that
preprocessing, so every bag built with one encoder id saw the same input.

Checkpoints are matched strictly: :func:`load_checked` refuses a file whose keys or shapes
differ from the architecture, naming the first few offenders, rather than leaving layers at
their random initialisation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import torch

__all__ = ["EncoderEntry", "EncoderSpec", "TileEncoder", "load_checked"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_SHOW_KEYS = 5


@dataclass(frozen=True)
class EncoderSpec:
    """The declared input and output of a tile encoder.

    Attributes
    ----------
    name : str
        Registry name (the encoder id recorded in every bag).
    input_mpp : float
        Resolution the encoder was trained at (µm/px; 0.5 ≈ 20×).
    tile_px : int
        Tile side the network takes (px); other sizes are resized by
        :meth:`TileEncoder.preprocess`.
    mean, std : tuple of float
        Per-channel (R, G, B) normalisation applied to 0–1 intensities.
    dim : int
        Length of the feature vector per tile.
    weights_sha256 : str or None
        SHA-256 of the weight file. In the registry: the pinned checksum where one is known
        (None otherwise); on a built :class:`TileEncoder`: the hash of the file actually loaded.
    weights_path : str or None
        The weight file loaded (None in the registry and for weight-free encoders).
    needs_weights : bool
        True when the user must supply a local checkpoint (``--weights PATH``).
    licence_note : str
        Licence and citation of the model and its weights.
    """

    name: str
    input_mpp: float
    tile_px: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    weights_sha256: str | None
    weights_path: str | None
    needs_weights: bool
    licence_note: str


@dataclass(frozen=True)
class EncoderEntry:
    """One registry line: the spec plus how to build and fill the network.

    Attributes
    ----------
    spec : EncoderSpec
        Declared input/output.
    build : callable
        ``build(**arch) -> torch.nn.Module`` with random (or packaged) weights; ``arch``
        overrides the architecture (tests build tiny versions this way).
    checkpoint : str
        Where the published checkpoint comes from and its file name (shown when missing).
    adapt : callable or None
        ``adapt(state) -> state``: renames a published checkpoint's keys to the module's
        (e.g. drops CONCH's ``visual.trunk.`` prefix and its text tower).
    ignore_prefixes : tuple of str
        Checkpoint keys starting with these are accepted and unused (e.g. ResNet-50's
        ``layer4.``/``fc.`` when the network is truncated after ``layer3``).
    optional_suffixes : tuple of str
        Module keys a checkpoint may omit (e.g. BatchNorm's ``num_batches_tracked``, absent
        from older torchvision files).
    doc : str
        The entry's documentation: published file, expected input (mpp, tile px, mean/std),
        output and citation.
    meta_init : bool
        Build the network on the ``meta`` device and adopt the checkpoint's tensors instead
        of allocating and randomly initialising it first: a 1.1 B-parameter ViT-g then needs
        one copy of its weights in memory, not two. Only for networks whose every tensor
        comes from the checkpoint (no rebuilt buffers).
    """

    spec: EncoderSpec
    build: Callable[..., Any]
    checkpoint: str = ""
    adapt: Callable[[dict], dict] | None = None
    ignore_prefixes: tuple[str, ...] = ()
    optional_suffixes: tuple[str, ...] = field(default=())
    doc: str = ""
    meta_init: bool = False


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW_KEYS])
    more = f" … (+{len(keys) - _SHOW_KEYS} more)" if len(keys) > _SHOW_KEYS else ""
    return shown + more


def load_checked(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    ignore_prefixes: tuple[str, ...] = (),
    optional_suffixes: tuple[str, ...] = (),
    assign: bool = False,
) -> int:
    """Copy ``state`` into ``module``, refusing any key or shape mismatch.

    Parameters
    ----------
    module : torch.nn.Module
        The freshly built network.
    state : mapping of str to torch.Tensor
        The checkpoint's ``state_dict`` (already renamed to the module's names).
    source : str
        What the state came from (the file name), for messages.
    ignore_prefixes : tuple of str
        Checkpoint keys with these prefixes are dropped without complaint.
    optional_suffixes : tuple of str
        Module keys with these suffixes may be missing from the checkpoint.
    assign : bool
        Adopt the checkpoint's tensors (as float32) rather than copying into the module's
        (for a module built on the ``meta`` device).

    Returns
    -------
    int
        Number of tensors copied.

    Raises
    ------
    hccfusion.errors.DataError
        If the checkpoint lacks keys the module needs, carries keys it does not know, or a
        tensor's shape differs; the message lists the first few keys.
    """
    own = module.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    missing = [k for k in own if k not in state and not k.endswith(optional_suffixes)]
    unexpected = [k for k in state if k not in own]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_first(unexpected)})")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (checkpoint vs model: {_first(wrong)})")
    if problems:
        raise DataError(f"checkpoint {source} does not fit this encoder's architecture: "
                        + "; ".join(problems)
                        + ". Check that the file is the published checkpoint of this model.")
    used = {k: v for k, v in state.items() if k in own}
    if assign:  # half-precision checkpoints become float32, like the module they replace
        used = {k: v.float() if v.is_floating_point() else v for k, v in used.items()}
    module.load_state_dict(used, strict=False, assign=assign)
    return len(used)


class TileEncoder:
    """A ready tile encoder: preprocessing plus a frozen network in eval mode.

    Attributes
    ----------
    spec : EncoderSpec
        Declared input/output; ``weights_path``/``weights_sha256`` name the file loaded.
    module : torch.nn.Module
        Maps normalised tiles ``[B, 3, tile_px, tile_px]`` to features ``[B, dim]``.
    device : str
        Torch device the module lives on.

    Examples
    --------
    >>> import numpy as np
    >>> from hccfusion.pathology.encoders import get_tile_encoder
    >>> enc = get_tile_encoder("hcc_stats")
    >>> enc.encode(np.full((2, 224, 224, 3), 200, np.uint8)).shape
    (2, 50)
    """

    def __init__(self, *, spec: EncoderSpec, module: torch.nn.Module, device: str = "cpu") -> None:
        self.spec = spec
        self.module = module.to(device).eval()
        self.device = device

    def __repr__(self) -> str:
        return (f"TileEncoder(name={self.spec.name!r}, dim={self.spec.dim}, "
                f"tile_px={self.spec.tile_px}, input_mpp={self.spec.input_mpp})")

    def _check_tiles(self, tiles: np.ndarray, caller: str) -> np.ndarray:
        arr = np.asarray(tiles)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
            raise UsageError(f"The 'tiles' parameter of TileEncoder.{caller} must be RGB tiles "
                             f"shaped [B, H, W, 3] with B ≥ 1. Got shape {arr.shape} instead.")
        if arr.dtype != np.uint8:
            raise UsageError(f"The 'tiles' parameter of TileEncoder.{caller} must be uint8 "
                             f"(0–255). Got dtype {arr.dtype} instead.")
        return arr

    def preprocess(self, tiles: np.ndarray) -> torch.Tensor:
        """Scale, resize and normalise tiles the way the encoder was trained.

        Parameters
        ----------
        tiles : numpy.ndarray
            ``uint8 [B, H, W, 3]`` RGB (a single ``[H, W, 3]`` tile is accepted).

        Returns
        -------
        torch.Tensor
            ``float32 [B, 3, tile_px, tile_px]`` on :attr:`device`: intensities / 255,
            resized (bilinear, antialiased) when ``H`` or ``W`` differs from ``tile_px``, then
            ``(x - mean) / std`` per channel.

        Raises
        ------
        hccfusion.errors.UsageError
            For a wrong shape, channel count or dtype.
        """
        import torch
        import torch.nn.functional as F

        arr = self._check_tiles(tiles, "preprocess")
        # channel-first while still 1 byte per value, then one float pass per step
        x = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)
        x = x.permute(0, 3, 1, 2).contiguous().float()
        side = self.spec.tile_px
        if x.shape[-2:] != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False,
                              antialias=True).clamp_(0.0, 255.0)
        mean, std = np.asarray(self.spec.mean), np.asarray(self.spec.std)
        if np.all(mean == 0.0) and np.all(std == 1.0):
            return x.mul_(1.0 / 255.0)
        scale = torch.tensor(1.0 / (255.0 * std), dtype=x.dtype, device=self.device)
        offset = torch.tensor(mean / std, dtype=x.dtype, device=self.device)
        return x.mul_(scale.view(1, 3, 1, 1)).sub_(offset.view(1, 3, 1, 1))

    def encode(self, tiles: np.ndarray) -> np.ndarray:
        """Features of a batch of tiles.

        Parameters
        ----------
        tiles : numpy.ndarray
            ``uint8 [B, H, W, 3]`` RGB.

        Returns
        -------
        numpy.ndarray
            ``float32 [B, dim]``.
        """
        import torch

        x = self.preprocess(self._check_tiles(tiles, "encode"))
        with torch.inference_mode():
            out = self.module(x)
        return out.float().cpu().numpy()
