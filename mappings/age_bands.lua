-- age_bands: the district reports four age bands, the national server two. Several source
-- combos land on one target combo, and aggregate = "sum" adds up the values that end on the
-- same (dataElement, period, orgUnit, combo, attribute combo).
-- Run such a job over whole periods (not incrementally): a partial sum would overwrite the
-- full one on the target.
return {
  categoryOptionCombos = {
    Ak9ZcZUvBHZ = "rESQedUStPK", -- 0-11 months -> under 5 years
    Fz3DXjDNvb1 = "rESQedUStPK", -- 12-59 months -> under 5 years
    Qa8pNx2TrLm = "R0CsTy4Qwb8", -- 5-14 years -> 5 years and over
    Vw4KcH9bZe2 = "R0CsTy4Qwb8", -- 15 years and over -> 5 years and over
  },
  aggregate = "sum",
}
