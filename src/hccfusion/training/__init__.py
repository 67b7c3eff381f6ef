"""Training: patient-level datasets and bags, folds, and the plain fit loops.

Nothing here imports torch at package import time.
"""
