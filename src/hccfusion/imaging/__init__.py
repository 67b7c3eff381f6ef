"""Imaging: CT/MR volumes from DICOM or NIfTI, series grouping, contrast-phase identification,
liver and tumour masks, preprocessing, radiomics and deep encoders → features.

Import the submodules directly: ``exam`` (one exam folder → phases and masks), ``volumes``,
``dicom_series`` / ``dicom_headers``, ``phases``, ``masks``, ``preprocess`` / ``crops`` /
``registration`` (SimpleITK), ``radiomics`` / ``radiomics_aggregate`` (PyRadiomics) and
``encoders`` (3D encoders: MONAI ResNets, MedicalNet and I3ResNet-152 checkpoints); nothing is imported here so that ``hccfusion --help`` stays instant.
"""
