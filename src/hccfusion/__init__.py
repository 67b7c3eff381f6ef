"""hccfusion: the software of a two-centre cohort study of unresectable hepatocellular carcinoma.

Nothing heavy is imported here: ``hccfusion --help`` must stay instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
