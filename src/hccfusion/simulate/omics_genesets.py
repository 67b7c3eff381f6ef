"""Gene sets and the gene universe shipped as package data (``hccfusion/data/genes``).

The GMT files hold small published signatures (see ``SOURCES.md`` beside them); full collections
such as MSigDB Hallmark are not redistributable and are read from a user-supplied GMT with
:func:`read_gmt`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from hccfusion.errors import DataError, UsageError

GENE_UNIVERSE_FILE = "hgnc_protein_coding_symbols.txt"


def _genes_dir():
    return resources.files("hccfusion.data").joinpath("genes")


def read_gmt(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read a GMT file (one gene set a line: name, description, genes, tab-separated).

    Parameters
    ----------
    path : str or Path
        A ``.gmt`` file, e.g. MSigDB's ``h.all.v2024.1.Hs.symbols.gmt``.

    Returns
    -------
    dict of str to tuple of str
        Set name to its genes, in file order, duplicates within a set dropped.

    Raises
    ------
    UsageError
        If the file does not exist.
    DataError
        If a line has fewer than three fields or a set name repeats.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The 'path' parameter of read_gmt must be an existing GMT file. "
                         f"Got '{path}' instead.")
    return _parse_gmt(path.read_text(encoding="utf-8"), source=str(path))


def _parse_gmt(text: str, *, source: str) -> dict[str, tuple[str, ...]]:
    sets: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) < 3:
            raise DataError(f"{source}, line {number}: a GMT line needs a name, a description and "
                            f"at least one gene separated by tabs; got {len(fields)} field(s).")
        name = fields[0].strip()
        if name in sets:
            raise DataError(f"{source}, line {number}: gene set '{name}' appears twice.")
        genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        sets[name] = genes
    return sets


def gene_universe() -> tuple[str, ...]:
    """The shipped list of human protein-coding gene symbols (HGNC), sorted.

    Returns
    -------
    tuple of str
        19,280 unique symbols; provenance in ``hccfusion/data/genes/SOURCES.md``.
    """
    text = _genes_dir().joinpath(GENE_UNIVERSE_FILE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


def shipped_gmt_files() -> tuple[str, ...]:
    """Names of the GMT files shipped in ``hccfusion/data/genes``, sorted."""
    return tuple(sorted(p.name for p in _genes_dir().iterdir() if p.name.endswith(".gmt")))


def shipped_gene_sets() -> pd.DataFrame:
    """All shipped gene sets as a tidy table.

    Returns
    -------
    pandas.DataFrame
        One row per (set, gene): ``set_name``, ``source_file``, ``description``, ``gene``.
    """
    rows = []
    for file_name in shipped_gmt_files():
        text = _genes_dir().joinpath(file_name).read_text(encoding="utf-8")
        descriptions = {line.split("\t")[0]: line.split("\t")[1]
                        for line in text.splitlines() if line.count("\t") >= 2}
        for name, genes in _parse_gmt(text, source=file_name).items():
            rows.extend({"set_name": name, "source_file": file_name,
                         "description": descriptions[name], "gene": gene} for gene in genes)
    return pd.DataFrame(rows, columns=["set_name", "source_file", "description", "gene"])
