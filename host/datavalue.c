#include "datavalue.h"

const char *const datavalue_names[DV_STRINGS] = {
    "dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo",
    "value", "storedBy", "created", "lastUpdated", "comment",
};

const char **datavalue_string(struct datavalue *dv, enum datavalue_string i)
{
    switch (i) {
    case DV_DATA_ELEMENT: return &dv->data_element;
    case DV_PERIOD: return &dv->period;
    case DV_ORG_UNIT: return &dv->org_unit;
    case DV_CATEGORY_OPTION_COMBO: return &dv->category_option_combo;
    case DV_ATTRIBUTE_OPTION_COMBO: return &dv->attribute_option_combo;
    case DV_VALUE: return &dv->value;
    case DV_STORED_BY: return &dv->stored_by;
    case DV_CREATED: return &dv->created;
    case DV_LAST_UPDATED: return &dv->last_updated;
    default: return &dv->comment;
    }
}
