"""Omics and assay statistics: multiple-testing correction, two-group feature comparisons and
the derived IHC / flow-cytometry readouts (CD8 density, PD-L1 TPS/CPS, immune phenotype,
lymphocyte subsets) used to explain what separates the model's risk groups."""
