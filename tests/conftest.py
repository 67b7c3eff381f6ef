"""Suite-wide settings: property tests run the same examples on every run (CI included), so a
failure is reproducible rather than a matter of luck."""

from hypothesis import settings

settings.register_profile("hccfusion", derandomize=True, print_blob=True)
settings.load_profile("hccfusion")
