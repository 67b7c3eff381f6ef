"""Scale-out of slide feature extraction on a Ray cluster (the optional ``distributed`` extra).

One Ray task per slide runs the same :func:`hccfusion.pathology.extract.extract_slide` as the
single-machine path and returns the arrays; the driver writes the bags, so both paths produce the
same datasets and provenance (only ``created_at`` differs). Tasks read their tiles in their own
process (``num_workers=0``): the parallelism is across slides.

Ray starts locally by default (``ray.init(num_cpus=…)``) or joins an existing cluster by
address; every node needs hccfusion installed and the slide files at the same paths.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hccfusion.errors import UsageError
from hccfusion.pathology.extract import (SlideExtractionError, SlideFeatures, TileSettings,
                                         extract_slide)


@dataclass(frozen=True)
class EncoderRequest:
    """How a task loads the encoder: registry name, local weights, expected hash, device."""

    name: str
    weights: str | None = None
    expected_sha256: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class SlideJob:
    """One slide to extract: its id, file and optional level-0 mpp override (µm/px)."""

    slide_id: str
    path: str
    mpp: float | None = None


#: Encoders already loaded in this worker process, by request (a worker runs many tasks).
_LOADED: dict[EncoderRequest, Any] = {}


def _encoder_for(request: EncoderRequest) -> Any:
    if request not in _LOADED:
        from hccfusion.pathology.encoders import get_tile_encoder

        _LOADED[request] = get_tile_encoder(request.name, weights=request.weights,
                                            expected_sha256=request.expected_sha256,
                                            device=request.device)
    return _LOADED[request]


def run_slide_task(job: SlideJob, request: EncoderRequest, settings: TileSettings,
                   normalizer: Any | None) -> SlideFeatures | tuple[str, str]:
    """The body of one Ray task: the slide's features, or ``(kind, reason)`` if it failed.

    Failures come back as values so that the driver records them like the local path does
    (a raised error would reach the driver wrapped in Ray's own exception type).
    """
    encoder = _encoder_for(request)
    try:
        return extract_slide(
            job.path, encoder=encoder, settings=replace(settings, num_workers=0), mpp=job.mpp,
            normalizer=normalizer)
    except SlideExtractionError as exc:
        return (exc.kind, str(exc))


def import_ray() -> Any:
    """``ray``, or a UsageError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError("backend 'ray' needs the optional 'distributed' extra: "
                         "pip install 'hccfusion[distributed]' (or pip install ray).") from exc
    return ray


@contextmanager
def ray_session(*, address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """A connected Ray: a local one started (and shut down after) when ``address`` is None,
    an existing cluster when given; one already initialised in this process is reused."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    if address is None:
        kwargs["num_cpus"] = int(num_cpus) if num_cpus else os.cpu_count() or 1
    else:
        kwargs["address"] = address
    # the local cluster needs no token; set only for this call, never at import
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        ray.init(**kwargs)
    finally:
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
    try:
        yield ray
    finally:
        ray.shutdown()


def extract_slides_ray(jobs: Sequence[SlideJob], *, encoder: EncoderRequest,
                       settings: TileSettings, normalizer: Any | None = None,
                       address: str | None = None, num_cpus: int | None = None,
                       num_gpus_per_task: float = 0.0,
                       on_done: Callable[[str, SlideFeatures | tuple[str, str]], None]
                       ) -> None:
    """Run one Ray task per slide and hand each result to ``on_done`` as it completes.

    Parameters
    ----------
    jobs : sequence of SlideJob
        The slides (paths as the cluster's nodes see them).
    encoder : EncoderRequest
        Which encoder every task loads (once per worker process).
    settings : TileSettings
        Tiling and batching, as for the local path (tasks read with ``num_workers=0``).
    normalizer : object or None
        A fitted stain normaliser, shipped to the tasks.
    address : str or None
        An existing cluster (``"ray://host:10001"`` or ``"auto"``); None starts a local one.
    num_cpus : int or None
        CPUs of the local cluster (default: all of this machine's).
    num_gpus_per_task : float
        GPUs each task reserves (0 on CPU machines; e.g. 0.25 to share a GPU by four tasks).
    on_done : callable
        ``on_done(slide_id, SlideFeatures or (kind, reason))``, called in the driver.
    """
    if not jobs:
        return
    with ray_session(address=address, num_cpus=num_cpus) as ray:
        task = ray.remote(num_cpus=1, num_gpus=float(num_gpus_per_task),
                          max_retries=0)(run_slide_task)
        shared = (ray.put(encoder), ray.put(settings), ray.put(normalizer))
        pending = {task.remote(job, *shared): job.slide_id for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                slide_id = pending.pop(ref)
                on_done(slide_id, ray.get(ref))


def job_for(slide_id: str, path: Path, mpp: float | None) -> SlideJob:
    """A :class:`SlideJob` with an absolute path (Ray workers have their own working folder)."""
    return SlideJob(slide_id=str(slide_id), path=str(Path(path).resolve()),
                    mpp=None if mpp is None else float(mpp))
