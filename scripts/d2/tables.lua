-- d2.tables — lookup tables for mappings: CSV files beside the mapping, small helpers.
--   local t = require "d2.tables"
--   categoryOptionCombos = t.csv("coc.csv")
-- See scripts/README.md.
local _, host = ...
local M = {}

local HEADER_WORDS = {
  source = true, from = true, src = true, old = true, id = true, code = true,
  source_id = true, sourceid = true, ["source id"] = true, ["from id"] = true,
}

-- Parses CSV text (RFC 4180: quotes, "" inside quotes, CRLF or LF) into rows
-- {fields = {...}, line = N}; blank lines and lines starting with # are skipped.
local function parse(text, file)
  local rows, pos, len, line = {}, 1, #text, 1
  if text:sub(1, 3) == "\239\187\191" then pos = 4 end -- UTF-8 byte order mark
  while pos <= len do
    local row, rowline = {}, line
    local first = text:sub(pos, pos)
    if first == "#" then
      local nl = text:find("\n", pos, true)
      pos = nl and nl + 1 or len + 1
      line = line + 1
      goto continue
    end
    while true do
      local field
      if text:sub(pos, pos) == '"' then
        local buf = {}
        pos = pos + 1
        while true do
          local q = text:find('"', pos, true)
          if not q then error(file .. ":" .. rowline .. ": unterminated quoted field", 0) end
          local piece = text:sub(pos, q - 1)
          buf[#buf + 1] = piece
          for _ in piece:gmatch("\n") do line = line + 1 end
          if text:sub(q + 1, q + 1) == '"' then
            buf[#buf + 1] = '"'
            pos = q + 2
          else
            pos = q + 1
            break
          end
        end
        field = table.concat(buf)
      else
        local s = text:find("[,\r\n]", pos)
        if s then
          field = text:sub(pos, s - 1)
          pos = s
        else
          field = text:sub(pos)
          pos = len + 1
        end
        field = field:match("^%s*(.-)%s*$")
      end
      row[#row + 1] = field
      local d = text:sub(pos, pos)
      if d == "," then
        pos = pos + 1
      elseif d == "\r" or d == "\n" then
        pos = pos + 1
        if d == "\r" and text:sub(pos, pos) == "\n" then pos = pos + 1 end
        line = line + 1
        break
      elseif d == "" then
        break
      else
        error(file .. ":" .. line .. ": unexpected character after a quoted field", 0)
      end
    end
    if not (#row == 1 and row[1] == "") then
      rows[#rows + 1] = { fields = row, line = rowline }
    end
    ::continue::
  end
  return rows
end

local function column(spec, header, default, file)
  if spec == nil then return default end
  if math.type(spec) == "integer" then return spec end
  if type(spec) == "string" and header then
    for i, name in ipairs(header) do
      if name == spec then return i end
    end
    error(file .. ": no column named '" .. spec .. "' in the header", 3)
  end
  error(file .. ": a column is a number (1, 2...) or a header name", 3)
end

--- t.csv(file [, opts]) -> table: source id -> target id (or false: drop)
-- file: a plain .csv name in the mapping's own directory.
-- opts.header: true (the first row is a header), false (it is not) or nil (a header if its
--   first cell is a word like "source", "from", "id", "code", or if from/to name columns).
-- opts.from, opts.to: columns (numbers, or header names with a header); default 1 and 2.
-- An empty target cell maps the id to false (values with it are dropped).
function M.csv(file, opts)
  if type(file) ~= "string" then error("t.csv: expected a file name", 2) end
  opts = opts or {}
  local text, msg = host.read(file)
  if not text then error("t.csv: " .. msg, 2) end
  local rows = parse(text, file)
  local header
  if #rows > 0 then
    local h = opts.header
    if h == nil and (type(opts.from) == "string" or type(opts.to) == "string") then h = true end
    if h == nil then
      h = HEADER_WORDS[(rows[1].fields[1] or ""):lower()] or false
    end
    if h then
      header = rows[1].fields
      table.remove(rows, 1)
    end
  end
  local from = column(opts.from, header, 1, file)
  local to = column(opts.to, header, 2, file)
  local out, seen = {}, {}
  for _, r in ipairs(rows) do
    local k, v = r.fields[from], r.fields[to]
    if k == nil or v == nil then
      error(file .. ":" .. r.line .. ": expected at least " .. math.max(from, to) ..
            " columns, found " .. #r.fields, 0)
    end
    if k == "" then error(file .. ":" .. r.line .. ": empty source id", 0) end
    if v == "" then v = false end
    if seen[k] and out[k] ~= v then
      error(file .. ":" .. r.line .. ": '" .. k .. "' is mapped twice (also on line " ..
            seen[k] .. ")", 0)
    end
    out[k], seen[k] = v, r.line
  end
  return out
end

--- t.merge(a, b, ...) -> a new table with the entries of all (later ones win).
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t ~= nil then
      if type(t) ~= "table" then error("t.merge: argument " .. i .. " is not a table", 2) end
      for k, v in pairs(t) do out[k] = v end
    end
  end
  return out
end

--- t.invert(t) -> target id -> source id (errors if two sources share a target).
function M.invert(t)
  local out = {}
  for k, v in pairs(t) do
    if v then
      if out[v] ~= nil then
        error("t.invert: '" .. v .. "' is the target of both '" .. out[v] .. "' and '" .. k .. "'", 2)
      end
      out[v] = k
    end
  end
  return out
end

--- t.same(list) -> {id = id, ...}: ids that keep their id (declares them as mapped).
function M.same(list)
  local out = {}
  for _, id in ipairs(list) do out[id] = id end
  return out
end

return M
