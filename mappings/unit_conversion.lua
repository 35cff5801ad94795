-- unit_conversion: the same data elements on both sides, counted in different units.
-- Only transform changes anything; ids pass unchanged (no table is declared).
local GRAMS_PER_KG = 1000
local DOSES_PER_VIAL = 20

local per_element = {
  gQNFkFkObU8 = function(v) return v * GRAMS_PER_KG end,   -- birth weight: kg -> g
  xTbR6vTrTWd = function(v) return v * DOSES_PER_VIAL end, -- BCG vials used -> doses
  Rf1sWpQ3hPd = function(v) return (v - 32) * 5 / 9 end,   -- fridge temperature: F -> C
}

return {
  transform = function(dv)
    local convert = per_element[dv.dataElement]
    if convert and dv.value then
      local n = tonumber(dv.value)
      if not n then error("value '" .. dv.value .. "' of " .. dv.dataElement .. " is not a number") end
      local r = convert(n)
      -- whole numbers stay whole ("120", not "120.0"); others keep two decimals
      dv.value = (r == math.floor(r)) and string.format("%d", r) or string.format("%.2f", r)
    end
    return dv
  end,
}
