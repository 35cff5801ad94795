-- monthly_to_quarterly: the national server collects quarterly. Each month is moved to its
-- quarter and the three months are summed.
local p = require "d2.periods"

return {
  transform = function(dv)
    local q = p.toQuarterly(dv.period)
    if not q then error("period '" .. dv.period .. "' is not monthly") end
    dv.period = q
    return dv
  end,
  aggregate = "sum",
  -- the value the reload canary tries transform on
  sample = { dataElement = "fbfJHSPpUQD", period = "202401", orgUnit = "DiszpKrYNg8", value = "1" },
}
