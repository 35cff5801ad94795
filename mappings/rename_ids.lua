-- rename_ids: the simplest useful mapping. Two servers that share the org unit hierarchy but
-- not the data element ids: data elements are renamed, everything else passes unchanged
-- (a kind of id without a table is not touched). No transform: no Lua runs per value.
return {
  dataElements = {
    fbfJHSPpUQD = "u8jzPde0Igx", -- ANC 1st visit
    cYeuwXTCPkU = "Ld6GncfBAep", -- ANC 2nd visit
    s46m5MS0hxu = "isAjIhKtJ0R", -- BCG doses given
  },
  -- ids not in the table fail the value instead of being skipped quietly
  unmapped = "error",
}
