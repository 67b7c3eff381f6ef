"""Package data: curated gene lists and gene sets (``genes/``, see ``genes/SOURCES.md``)."""
