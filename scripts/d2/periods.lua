-- d2.periods — DHIS2 period ids: parse, convert between types, shift. Pure Lua.
--   local p = require "d2.periods"
--   p.toQuarterly("202402") --> "2024Q1"
-- See scripts/README.md.
local M = {}

local function int(s) return math.tointeger(tonumber(s)) end

--- p.parse(pe) -> {type=, year=, month=, quarter=, half=, week=, day=} | nil
-- Types: Daily (20240131), Weekly (2024W5), Monthly (202401), BiMonthly (202401B),
-- Quarterly (2024Q1), SixMonthly (2024S1), Yearly (2024), FinancialApril/July/Oct/Nov
-- (2024April, 2024July, 2024Oct, 2024Nov).
function M.parse(pe)
  if type(pe) ~= "string" then return nil end
  local y, m, d = pe:match("^(%d%d%d%d)(%d%d)(%d%d)$")
  if y then
    m, d = int(m), int(d)
    if m < 1 or m > 12 or d < 1 or d > 31 then return nil end
    return { type = "Daily", year = int(y), month = m, day = d }
  end
  y, m = pe:match("^(%d%d%d%d)(%d%d)$")
  if y then
    m = int(m)
    if m < 1 or m > 12 then return nil end
    return { type = "Monthly", year = int(y), month = m }
  end
  y, m = pe:match("^(%d%d%d%d)(%d%d)B$")
  if y then
    m = int(m)
    if m < 1 or m > 6 then return nil end
    return { type = "BiMonthly", year = int(y), bimonth = m }
  end
  local q
  y, q = pe:match("^(%d%d%d%d)Q(%d)$")
  if y then
    q = int(q)
    if q < 1 or q > 4 then return nil end
    return { type = "Quarterly", year = int(y), quarter = q }
  end
  y, q = pe:match("^(%d%d%d%d)S(%d)$")
  if y then
    q = int(q)
    if q < 1 or q > 2 then return nil end
    return { type = "SixMonthly", year = int(y), half = q }
  end
  y, q = pe:match("^(%d%d%d%d)W(%d%d?)$")
  if y then
    q = int(q)
    if q < 1 or q > 53 then return nil end
    return { type = "Weekly", year = int(y), week = q }
  end
  y = pe:match("^(%d%d%d%d)$")
  if y then return { type = "Yearly", year = int(y) } end
  local f
  y, f = pe:match("^(%d%d%d%d)(%a+)$")
  if y and (f == "April" or f == "July" or f == "Oct" or f == "Nov") then
    return { type = "Financial" .. f, year = int(y) }
  end
  return nil
end

--- p.type(pe) -> "Monthly" | ... | nil
function M.type(pe)
  local p = M.parse(pe)
  return p and p.type
end

local function month_of(p)
  if p.month then return p.month end
  if p.bimonth then return p.bimonth * 2 - 1 end
  if p.quarter then return p.quarter * 3 - 2 end
  if p.half then return p.half * 6 - 5 end
  return nil
end

--- p.monthly(year, month) -> "YYYYMM"
function M.monthly(year, month) return string.format("%04d%02d", year, month) end

--- p.toQuarterly(pe) -> "YYYYQn" for a Daily, Monthly, BiMonthly or Quarterly period; nil otherwise
function M.toQuarterly(pe)
  local p = M.parse(pe)
  local m = p and month_of(p)
  if not m or p.half then return nil end
  return string.format("%04dQ%d", p.year, (m - 1) // 3 + 1)
end

--- p.toSixMonthly(pe) -> "YYYYSn"
function M.toSixMonthly(pe)
  local p = M.parse(pe)
  local m = p and month_of(p)
  if not m then return nil end
  return string.format("%04dS%d", p.year, (m - 1) // 6 + 1)
end

--- p.toYearly(pe) -> "YYYY" (calendar year of the period's start; Weekly: the week's year)
function M.toYearly(pe)
  local p = M.parse(pe)
  if not p or p.type:find("^Financial") then return nil end
  return string.format("%04d", p.year)
end

--- p.toMonthly(pe) -> "YYYYMM" for a Daily period; the first month for longer ones
function M.toMonthly(pe)
  local p = M.parse(pe)
  local m = p and month_of(p)
  if not m then return nil end
  return M.monthly(p.year, m)
end

--- p.shift(pe, n) -> the period n steps later (n < 0: earlier) for Monthly, Quarterly,
-- SixMonthly and Yearly periods; nil for other types.
function M.shift(pe, n)
  local p = M.parse(pe)
  if not p or math.type(n) ~= "integer" then return nil end
  local function step(count, per_year, idx)
    local i = p.year * per_year + (idx - 1) + n
    return i // per_year, i % per_year + 1
  end
  if p.type == "Monthly" then
    local y, m = step(12, 12, p.month)
    return string.format("%04d%02d", y, m)
  elseif p.type == "Quarterly" then
    local y, q = step(4, 4, p.quarter)
    return string.format("%04dQ%d", y, q)
  elseif p.type == "SixMonthly" then
    local y, h = step(2, 2, p.half)
    return string.format("%04dS%d", y, h)
  elseif p.type == "Yearly" then
    return string.format("%04d", p.year + n)
  end
  return nil
end

return M
