"""GMT reading, the shipped gene sets, preranked GSEA and ssGSEA on planted rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.genesets import (
    GSEA_COLUMNS,
    packaged_gene_sets,
    preranked_gsea,
    read_gmt,
    single_sample_scores,
)

GENES = [f"GENE{i}" for i in range(400)]


def _sets(rng: np.random.Generator) -> dict[str, list[str]]:
    return {"TOP_SET": GENES[:25],
            "RANDOM_A": list(rng.choice(GENES[25:], 25, replace=False)),
            "RANDOM_B": list(rng.choice(GENES[25:], 30, replace=False))}


def test_read_gmt_and_failures(tmp_path):
    path = tmp_path / "sets.gmt"
    path.write_text("# comment\nSET_A\tdesc\tTP53\tGAPDH\tTP53\n\nSET_B\tna\tCD8A\n",
                    encoding="utf-8")
    assert read_gmt(path) == {"SET_A": ("TP53", "GAPDH"), "SET_B": ("CD8A",)}
    path.write_text("SET_A\tdesc\tTP53\nSET_A\tdesc\tCD8A\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: gene set 'SET_A' appears twice"):
        read_gmt(path)
    path.write_text("SET_A\tdesc\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: a GMT line needs"):
        read_gmt(path)
    with pytest.raises(UsageError, match="must be an existing GMT file"):
        read_gmt(tmp_path / "missing.gmt")


def test_packaged_gene_sets_hold_the_cited_sets():
    sets = packaged_gene_sets()
    assert sets["ROONEY2015_CYTOLYTIC_ACTIVITY"] == ("GZMA", "PRF1")
    assert sets["AYERS2017_IFNG_6"] == ("IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA")
    assert len(sets["BUFFA2010_HYPOXIA_METAGENE"]) == 51
    assert len(sets) >= 20


def test_preranked_gsea_puts_the_top_set_first():
    rng = np.random.default_rng(0)
    ranking = pd.Series(np.sort(rng.normal(size=len(GENES)))[::-1], index=GENES)
    ranking = ranking.sample(frac=1.0, random_state=1)  # order of the input must not matter
    table = preranked_gsea(ranking=ranking, gene_sets=_sets(rng), permutations=200, seed=0)
    assert tuple(table.columns) == GSEA_COLUMNS
    top = table.iloc[0]
    assert top["term"] == "TOP_SET"
    assert top["nes"] == table["nes"].max() and top["fdr"] < 0.05 and top["es"] > 0.9
    assert top["size"] == 25
    assert set(top["leading_edge"]) <= set(GENES[:25])
    assert (table.loc[table["term"] != "TOP_SET", "fdr"] > 0.05).all()


def test_preranked_gsea_detects_id_mismatch_and_no_usable_set():
    rng = np.random.default_rng(0)
    ranking = pd.Series(rng.normal(size=50), index=[f"ENSG{i:011d}" for i in range(50)])
    with pytest.raises(DataError, match="uses ensembl gene ids but the gene sets use symbol"):
        preranked_gsea(ranking=ranking, gene_sets={"S": ["TP53", "GAPDH", "CD8A"]})
    ranking = pd.Series(rng.normal(size=50), index=GENES[:50])
    with pytest.raises(DataError, match="No gene set has between 5 and 500 genes"):
        preranked_gsea(ranking=ranking, gene_sets={"S": ["GENE1", "GENE2", "OTHER"]})


def test_ssgsea_scores_higher_where_set_genes_are_up():
    rng = np.random.default_rng(2)
    expression = pd.DataFrame(rng.normal(8.0, 1.0, (10, len(GENES))),
                              index=[f"S{i}" for i in range(10)], columns=GENES)
    up = ["S0", "S1", "S2"]
    expression.loc[up, GENES[:25]] += 2.0
    scores = single_sample_scores(expression=expression, gene_sets=_sets(rng))
    assert list(scores.index) == list(expression.index)
    assert set(scores.columns) == {"TOP_SET", "RANDOM_A", "RANDOM_B"}
    assert scores.loc[up, "TOP_SET"].min() > scores["TOP_SET"].drop(up).max()
    # The random sets do not separate the up samples from the rest.
    assert scores.loc[up, "RANDOM_A"].mean() < scores["RANDOM_A"].drop(up).max()


def test_ssgsea_rejects_unknown_method_and_missing_values():
    expression = pd.DataFrame(np.ones((2, 3)), index=["S0", "S1"], columns=["A1", "B1", "C1"])
    with pytest.raises(UsageError, match="unknown single-sample method 'gsva'"):
        single_sample_scores(expression=expression, gene_sets={"S": ["A1"]}, method="gsva")
    expression.iloc[1, 2] = np.nan
    with pytest.raises(DataError, match="gene C1 in sample S1 is not a finite"):
        single_sample_scores(expression=expression, gene_sets={"S": ["A1", "B1"]})
