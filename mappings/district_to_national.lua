-- district_to_national: the district HMIS (ids of the Sierra Leone demo database) to the
-- national server. Ids are renamed by lookup tables, applied in C: values that need nothing
-- else never enter Lua. The long tables live in CSV files beside this file. One data element
-- changes unit on the way (kilograms at the district, grams nationally).
local t = require "d2.tables"

return {
  description = "District HMIS -> national HMIS",

  dataElements = {
    fbfJHSPpUQD = "u8jzPde0Igx", -- ANC 1st visit
    cYeuwXTCPkU = "Ld6GncfBAep", -- ANC 2nd visit
    Jtf34kNZhzP = "fJBd0Kh8oOO", -- ANC 3rd visit
    hfdmMSPBgLG = "L8dKLzdocJ2", -- ANC 4th or more visits
    gQNFkFkObU8 = "Vpzz63FfkCz", -- Birth weight (kg) -> Birth weight (g)
  },
  categoryOptionCombos = t.csv("district_coc.csv"),
  attributeOptionCombos = { HllvX50cXC0 = "DwkNhFdnXsi" }, -- default -> national default
  orgUnits = t.csv("district_orgunits.csv"),

  -- a value whose data element, combo or org unit is not in a table above is skipped
  -- (counted and listed on the run); "keep" would pass the id unchanged, "error" would fail it
  unmapped = "skip",

  -- runs after the tables, so it sees the national ids
  transform = function(dv, ctx)
    if dv.dataElement == "Vpzz63FfkCz" and dv.value then
      local kg = tonumber(dv.value)
      if not kg then
        error("birth weight '" .. dv.value .. "' is not a number")
      end
      dv.value = kg * 1000
    end
    return dv
  end,
}
