-- demo_district_to_national: `make demo`'s mapping (spec/demo/run.sh). The district HMIS and
-- the national HMIS share codes but no ids; the crosswalks were made from the codes
-- (spec/demo/make_fixtures.py). The district records birth weight in kilograms, the nation
-- in grams; the nation does not collect supervisor remarks, whose values are skipped.
local t = require "d2.tables"

local NATIONAL_BIRTH_WEIGHT = "fSEBlc0ImTk"

return {
  description = "District HMIS -> national HMIS (the demo)",
  dataElements = t.csv("demo_district_dataelements.csv", { header = true }),
  categoryOptionCombos = t.csv("demo_district_cocs.csv", { header = true }),
  attributeOptionCombos = t.csv("demo_district_cocs.csv", { header = true }),
  orgUnits = t.csv("demo_district_orgunits.csv", { header = true }),
  unmapped = "skip",

  transform = function(dv)
    if dv.dataElement == NATIONAL_BIRTH_WEIGHT and dv.value then
      local kg = tonumber(dv.value)
      if not kg then error("birth weight '" .. dv.value .. "' is not a number") end
      dv.value = string.format("%d", math.floor(kg * 1000 + 0.5))
    end
    return dv
  end,
}
