"""Per-centre scanner profiles of the simulated CT exams (the "centre effect").

The two study centres scan on different machines: a different vendor and reconstruction kernel
(sharpness), tube voltage, noise level, a small HU offset and in-plane / slice spacing of the
full-size series. A centre the simulator does not know gets a third, fixed profile.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CenterProfile:
    """How one centre's scanner renders an exam.

    Attributes
    ----------
    manufacturer, model_name, institution_name, station_name : str
        DICOM identification of the scanner and site (synthetic).
    convolution_kernel : str
        Reconstruction kernel written to ``ConvolutionKernel``.
    kvp : float
        Tube voltage (kV).
    noise_ref_hu : float
        Standard deviation of image noise (HU) at the reference voxel of
        0.75 × 0.75 × 1.25 mm; coarser grids get less, as ``1/sqrt(voxel volume)``.
    kernel_blur_mm : float
        Standard deviation (mm) of the Gaussian point-spread function of the kernel;
        larger = smoother.
    hu_offset : float
        Calibration offset added to every tissue (HU).
    contrast_agent : str
        ``ContrastBolusAgent``.
    full_pixel_mm, full_slice_mm : float
        In-plane pixel size and slice spacing (mm) of the full-size series.
    """

    manufacturer: str
    model_name: str
    institution_name: str
    station_name: str
    convolution_kernel: str
    kvp: float
    noise_ref_hu: float
    kernel_blur_mm: float
    hu_offset: float
    contrast_agent: str
    full_pixel_mm: float
    full_slice_mm: float


REFERENCE_VOXEL_MM3 = 0.75 * 0.75 * 1.25
"""Voxel volume (mm³) at which ``CenterProfile.noise_ref_hu`` is stated."""

CENTER_PROFILES: dict[str, CenterProfile] = {
    "WX": CenterProfile(
        manufacturer="SIEMENS",
        model_name="SOMATOM Definition Flash",
        institution_name="Simulated Hospital WX",
        station_name="CTWX01",
        convolution_kernel="B30f",
        kvp=120.0,
        noise_ref_hu=12.0,
        kernel_blur_mm=0.6,
        hu_offset=0.0,
        contrast_agent="Iopromide 370 mgI/mL",
        full_pixel_mm=0.75,
        full_slice_mm=1.25,
    ),
    "NJ": CenterProfile(
        manufacturer="GE MEDICAL SYSTEMS",
        model_name="Revolution CT",
        institution_name="Simulated Hospital NJ",
        station_name="CTNJ02",
        convolution_kernel="STANDARD",
        kvp=100.0,
        noise_ref_hu=15.0,
        kernel_blur_mm=1.0,
        hu_offset=6.0,
        contrast_agent="Iohexol 350 mgI/mL",
        full_pixel_mm=0.78125,
        full_slice_mm=1.5,
    ),
}

OTHER_CENTER_PROFILE = CenterProfile(
    manufacturer="Philips",
    model_name="Brilliance iCT",
    institution_name="Simulated Hospital",
    station_name="CTXX03",
    convolution_kernel="B",
    kvp=120.0,
    noise_ref_hu=13.0,
    kernel_blur_mm=0.8,
    hu_offset=-4.0,
    contrast_agent="Iopamidol 370 mgI/mL",
    full_pixel_mm=0.75,
    full_slice_mm=2.0,
)


def center_profile(*, center: str) -> CenterProfile:
    """The scanner profile of ``center`` (``OTHER_CENTER_PROFILE`` for an unknown centre)."""
    return CENTER_PROFILES.get(center, OTHER_CENTER_PROFILE)
