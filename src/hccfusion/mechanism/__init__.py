"""Mechanism: what the models use and what separates the risk groups.

- :mod:`hccfusion.mechanism.attribution` — model-agnostic attributions: exact per-patient
  Shapley values over modalities, modality ablation, SHAP values of the clinical variables, and
  tidy MIL attention tables (tiles, lesions).

Nothing heavy is imported here; ``shap`` is imported inside the function that needs it.
"""
