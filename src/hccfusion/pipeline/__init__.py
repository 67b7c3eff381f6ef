"""Jobs that chain the library modules end to end (each one a CLI command)."""
