"""Evaluation of survival models: discrimination, calibration, clinical utility, Cox models (domain.md §7)."""
