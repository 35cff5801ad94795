-- drop_element: send everything except what the national server must not receive. An id
-- mapped to false drops its values (counted as skipped, with the reason); unmapped = "keep"
-- passes every other id unchanged.
return {
  dataElements = {
    x3Do5e7g4Qo = false, -- OPV0 doses given: reported nationally by another system
    pikOziyCXbM = false, -- OPV1 doses given
  },
  unmapped = "keep",
  -- and deletions at the source are not propagated by this mapping
  transform = function(dv)
    if dv.deleted then return nil end
    return dv
  end,
}
