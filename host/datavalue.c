#include "datavalue.h"

const char *const datavalue_names[DV_STRINGS] = {
    "dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo",
    "value", "storedBy", "created", "lastUpdated", "comment",
};
