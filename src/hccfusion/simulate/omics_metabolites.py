"""Named serum metabolites of the simulated LC-MS panel, with m/z computed from their formulas.

Formulas are those of the neutral molecules; m/z is the monoisotopic mass ± a proton for the
``[M+H]+`` / ``[M-H]-`` ion. Retention times are *simulated* (a 15-minute reversed-phase gradient:
polar metabolites early, bile acids and fatty acids late), not measured values. MSI level 1 =
identified against an authentic standard, 2 = putatively annotated (Sumner et al., Metabolomics
2007;3:211–221).
"""

from __future__ import annotations

import re

import pandas as pd

#: Monoisotopic masses (u) of the elements used, and of the proton.
MONOISOTOPIC_MASS = {"C": 12.0, "H": 1.00782503207, "N": 14.0030740048, "O": 15.99491461956,
                     "P": 30.97376163, "S": 31.97207100}
PROTON_MASS = 1.007276467

#: name, formula, ionisation mode (pos/neg), simulated retention time (min), MSI level.
METABOLITES: tuple[tuple[str, str, str, float, int], ...] = (
    ("lactate", "C3H6O3", "neg", 0.90, 1), ("pyruvate", "C3H4O3", "neg", 0.85, 1),
    ("glucose", "C6H12O6", "neg", 0.80, 1), ("citrate", "C6H8O7", "neg", 1.10, 1),
    ("succinate", "C4H6O4", "neg", 1.60, 1), ("fumarate", "C4H4O4", "neg", 1.50, 2),
    ("malate", "C4H6O5", "neg", 0.95, 1), ("alpha-ketoglutarate", "C5H6O5", "neg", 1.00, 2),
    ("2-hydroxyglutarate", "C5H8O5", "neg", 1.05, 2),
    ("3-hydroxybutyrate", "C4H8O3", "neg", 1.30, 1),
    ("glutamine", "C5H10N2O3", "pos", 0.75, 1), ("glutamate", "C5H9NO4", "pos", 0.78, 1),
    ("alanine", "C3H7NO2", "pos", 0.70, 1), ("glycine", "C2H5NO2", "pos", 0.68, 2),
    ("serine", "C3H7NO3", "pos", 0.69, 1), ("proline", "C5H9NO2", "pos", 0.90, 1),
    ("valine", "C5H11NO2", "pos", 1.20, 1), ("leucine", "C6H13NO2", "pos", 2.60, 1),
    ("isoleucine", "C6H13NO2", "pos", 2.40, 1), ("phenylalanine", "C9H11NO2", "pos", 3.40, 1),
    ("tyrosine", "C9H11NO3", "pos", 1.90, 1), ("tryptophan", "C11H12N2O2", "pos", 4.60, 1),
    ("methionine", "C5H11NO2S", "pos", 1.60, 1), ("histidine", "C6H9N3O2", "pos", 0.66, 1),
    ("arginine", "C6H14N4O2", "pos", 0.70, 1), ("ornithine", "C5H12N2O2", "pos", 0.65, 1),
    ("citrulline", "C6H13N3O3", "pos", 0.80, 1), ("lysine", "C6H14N2O2", "pos", 0.64, 1),
    ("aspartate", "C4H7NO4", "pos", 0.72, 1), ("asparagine", "C4H8N2O3", "pos", 0.71, 1),
    ("threonine", "C4H9NO3", "pos", 0.73, 1), ("kynurenine", "C10H12N2O3", "pos", 3.10, 1),
    ("kynurenic acid", "C10H7NO3", "pos", 4.90, 1), ("serotonin", "C10H12N2O", "pos", 2.20, 2),
    ("quinolinic acid", "C7H5NO4", "neg", 1.00, 2), ("creatinine", "C4H7N3O", "pos", 0.80, 1),
    ("creatine", "C4H9N3O2", "pos", 0.76, 1), ("carnitine", "C7H15NO3", "pos", 0.74, 1),
    ("acetylcarnitine", "C9H17NO4", "pos", 1.10, 1), ("betaine", "C5H11NO2", "pos", 0.77, 1),
    ("taurine", "C2H7NO3S", "neg", 0.70, 2), ("hypoxanthine", "C5H4N4O", "pos", 1.40, 1),
    ("xanthine", "C5H4N4O2", "neg", 1.50, 2), ("uric acid", "C5H4N4O3", "neg", 1.20, 1),
    ("inosine", "C10H12N4O5", "pos", 2.30, 2), ("uridine", "C9H12N2O6", "pos", 1.70, 2),
    ("adenosine", "C10H13N5O4", "pos", 2.50, 2), ("glutathione", "C10H17N3O6S", "pos", 1.30, 2),
    ("5'-methylthioadenosine", "C11H15N5O3S", "pos", 4.10, 2),
    ("pantothenic acid", "C9H17NO5", "pos", 2.90, 2), ("niacinamide", "C6H6N2O", "pos", 1.30, 1),
    ("hippuric acid", "C9H9NO3", "neg", 4.40, 2), ("indoxyl sulfate", "C8H7NO4S", "neg", 4.20, 2),
    ("phenylacetylglutamine", "C13H16N2O4", "pos", 4.50, 2),
    ("trimethylamine N-oxide", "C3H9NO", "pos", 0.70, 2), ("spermidine", "C7H19N3", "pos", 0.60, 2),
    ("putrescine", "C4H12N2", "pos", 0.60, 2), ("cortisol", "C21H30O5", "pos", 7.90, 2),
    ("cholic acid", "C24H40O5", "neg", 9.60, 1),
    ("chenodeoxycholic acid", "C24H40O4", "neg", 10.60, 1),
    ("deoxycholic acid", "C24H40O4", "neg", 10.80, 1),
    ("ursodeoxycholic acid", "C24H40O4", "neg", 9.90, 2),
    ("lithocholic acid", "C24H40O3", "neg", 11.90, 2),
    ("glycocholic acid", "C26H43NO6", "neg", 8.90, 1),
    ("taurocholic acid", "C26H45NO7S", "neg", 8.40, 1),
    ("glycochenodeoxycholic acid", "C26H43NO5", "neg", 9.80, 1),
    ("taurochenodeoxycholic acid", "C26H45NO6S", "neg", 9.40, 2),
    ("bilirubin", "C33H36N4O6", "pos", 12.20, 2), ("palmitic acid", "C16H32O2", "neg", 13.40, 2),
    ("oleic acid", "C18H34O2", "neg", 13.50, 2), ("linoleic acid", "C18H32O2", "neg", 13.00, 2),
    ("arachidonic acid", "C20H32O2", "neg", 12.90, 2),
    ("LysoPC(16:0)", "C24H50NO7P", "pos", 10.90, 2), ("LysoPC(18:0)", "C26H54NO7P", "pos", 11.60, 2),
    ("sphingosine-1-phosphate", "C18H38NO5P", "pos", 10.20, 2),
)


def monoisotopic_mass(formula: str) -> float:
    """Monoisotopic mass (u) of a neutral molecular formula such as ``C6H12O6``.

    Parameters
    ----------
    formula : str
        Hill-style formula of C, H, N, O, P and S.

    Returns
    -------
    float
    """
    tokens = re.findall(r"([A-Z][a-z]?)(\d*)", formula)
    if "".join(e + c for e, c in tokens) != formula:
        raise ValueError(f"cannot parse formula '{formula}'")
    return sum(MONOISOTOPIC_MASS[e] * (int(c) if c else 1) for e, c in tokens)


def metabolite_table() -> pd.DataFrame:
    """The named metabolites with ion, m/z, retention time and MSI level.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``formula``, ``ion_mode``, ``adduct``, ``mz``, ``rt_min``,
        ``msi_level``.
    """
    rows = []
    for name, formula, mode, rt, level in METABOLITES:
        mass = monoisotopic_mass(formula)
        positive = mode == "pos"
        rows.append({"name": name, "formula": formula,
                     "ion_mode": "positive" if positive else "negative",
                     "adduct": "[M+H]+" if positive else "[M-H]-",
                     "mz": round(mass + PROTON_MASS if positive else mass - PROTON_MASS, 4),
                     "rt_min": rt, "msi_level": level})
    return pd.DataFrame(rows)
