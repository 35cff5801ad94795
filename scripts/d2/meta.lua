-- d2.meta — the target instance's metadata, through the host's cache, inside transform only.
--   local meta = require "d2.meta"
--   dv.dataElement = meta.byCode("dataElements", "ANC_1ST_VISIT") or dv.dataElement
-- See scripts/README.md.
local _, host = ...
local M = {}

--- meta.byCode(kind, code) -> id | nil
function M.byCode(kind, code) return host.byCode(kind, code) end

--- meta.byName(kind, name) -> id | nil
function M.byName(kind, name) return host.byName(kind, name) end

--- meta.idByCode(kind, code) -> id, raising "no dataElements with code 'X'" when absent.
function M.idByCode(kind, code)
  local id = host.byCode(kind, code)
  if not id then error("no " .. kind .. " with code '" .. tostring(code) .. "' on the target", 2) end
  return id
end

return M
