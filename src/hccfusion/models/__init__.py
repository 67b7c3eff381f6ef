"""Torch building blocks shared by the modality pipelines and the multimodal model.

Modules here are imported lazily: nothing in this package imports torch at package import
time. :mod:`hccfusion.io.weights` reads local checkpoint files (``.pt``, ``.pth``,
``.bin``, ``.safetensors``) with a recorded SHA-256; nothing is ever downloaded.
"""
