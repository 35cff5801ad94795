/* mdtypes.c — the metadata types the emulator checks on import, in DHIS2's import order
 * (what a type references comes before it): required properties (E4000), unique ones (E5003)
 * and owned references (E5002, E4030), after dhis2-core's schemas. Other collections in a
 * payload are stored as posted, unchecked, as a DHIS2 with more modules would accept them. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

static const struct md_type types[] = {
    {"categoryOptions", "CategoryOption", "org.hisp.dhis.category", {"name", "shortName"},
     {"code", "name", "shortName"}, {{"organisationUnits", "organisationUnits", true, NULL}}, {NULL}},
    {"categories", "Category", "org.hisp.dhis.category", {"name"}, {"code", "name"},
     {{"categoryOptions", "categoryOptions", true, NULL}}, {NULL}},
    {"categoryCombos", "CategoryCombo", "org.hisp.dhis.category", {"name"}, {"code", "name"},
     {{"categories", "categories", true, NULL}}, {"categoryOptionCombos"}},
    {"categoryOptionCombos", "CategoryOptionCombo", "org.hisp.dhis.category", {NULL}, {"code"},
     {{"categoryCombo", "categoryCombos", false, NULL}, {"categoryOptions", "categoryOptions", true, NULL}},
     {NULL}},
    {"optionSets", "OptionSet", "org.hisp.dhis.option", {"name", "valueType"}, {"code", "name"},
     {{NULL}}, {NULL}},
    {"options", "Option", "org.hisp.dhis.option", {"name", "code"}, {NULL},
     {{"optionSet", "optionSets", false, NULL}}, {NULL}},
    {"legendSets", "LegendSet", "org.hisp.dhis.legend", {"name"}, {"code", "name"}, {{NULL}}, {NULL}},
    {"organisationUnitLevels", "OrganisationUnitLevel", "org.hisp.dhis.organisationunit",
     {"name", "level"}, {"name"}, {{NULL}}, {NULL}},
    {"organisationUnits", "OrganisationUnit", "org.hisp.dhis.organisationunit",
     {"name", "shortName", "openingDate"}, {"code"}, {{"parent", "organisationUnits", false, NULL}},
     {"level"}},
    {"organisationUnitGroups", "OrganisationUnitGroup", "org.hisp.dhis.organisationunit",
     {"name", "shortName"}, {"code", "name", "shortName"},
     {{"organisationUnits", "organisationUnits", true, NULL}}, {NULL}},
    {"organisationUnitGroupSets", "OrganisationUnitGroupSet", "org.hisp.dhis.organisationunit",
     {"name", "shortName"}, {"code", "name"},
     {{"organisationUnitGroups", "organisationUnitGroups", true, NULL}}, {NULL}},
    {"dataElements", "DataElement", "org.hisp.dhis.dataelement",
     {"name", "shortName", "valueType", "aggregationType", "domainType"}, {"code", "name", "shortName"},
     {{"categoryCombo", "categoryCombos", false, NULL}, {"optionSet", "optionSets", false, NULL},
      {"commentOptionSet", "optionSets", false, NULL}, {"legendSets", "legendSets", true, NULL}},
     {NULL}},
    {"dataElementGroups", "DataElementGroup", "org.hisp.dhis.dataelement", {"name", "shortName"},
     {"code", "name", "shortName"}, {{"dataElements", "dataElements", true, NULL}}, {NULL}},
    {"dataElementGroupSets", "DataElementGroupSet", "org.hisp.dhis.dataelement", {"name", "shortName"},
     {"code", "name"}, {{"dataElementGroups", "dataElementGroups", true, NULL}}, {NULL}},
    {"indicatorTypes", "IndicatorType", "org.hisp.dhis.indicator", {"name", "factor"}, {"code", "name"},
     {{NULL}}, {NULL}},
    {"indicators", "Indicator", "org.hisp.dhis.indicator",
     {"name", "shortName", "indicatorType", "numerator", "denominator"}, {"code", "name", "shortName"},
     {{"indicatorType", "indicatorTypes", false, NULL}, {"legendSets", "legendSets", true, NULL}}, {NULL}},
    {"indicatorGroups", "IndicatorGroup", "org.hisp.dhis.indicator", {"name"}, {"code", "name"},
     {{"indicators", "indicators", true, NULL}}, {NULL}},
    {"dataSets", "DataSet", "org.hisp.dhis.dataset", {"name", "periodType"}, {"code", "name"},
     {{"categoryCombo", "categoryCombos", false, NULL},
      {"dataSetElements", "dataElements", true, "dataElement"},
      {"organisationUnits", "organisationUnits", true, NULL}, {"indicators", "indicators", true, NULL},
      {"legendSets", "legendSets", true, NULL}},
     {NULL}},
    {"sections", "Section", "org.hisp.dhis.dataset", {"name", "dataSet"}, {"code"},
     {{"dataSet", "dataSets", false, NULL}, {"dataElements", "dataElements", true, NULL},
      {"indicators", "indicators", true, NULL}},
     {NULL}},
};
enum { N_TYPES = sizeof types / sizeof types[0] };

const struct md_type *md_type_of(const char *col)
{
    for (int i = 0; col && i < N_TYPES; i++)
        if (strcmp(types[i].col, col) == 0)
            return &types[i];
    return NULL;
}

int md_type_rank(const char *col)
{
    const struct md_type *t = md_type_of(col);
    return t ? (int)(t - types) : N_TYPES;
}

void md_short_klass(const char *col, char *out, size_t n)
{
    const struct md_type *t = md_type_of(col);
    if (t) {
        snprintf(out, n, "%s", t->klass);
        return;
    }
    /* "userRoles" -> "UserRole", "categories" -> "Category" */
    size_t len = strlen(col);
    snprintf(out, n, "%c%s", toupper((unsigned char)col[0]), col + 1);
    if (len > 3 && len < n && strcmp(out + len - 3, "ies") == 0)
        strcpy(out + len - 3, "y");
    else if (len > 1 && len < n && out[len - 1] == 's')
        out[len - 1] = '\0';
}

void md_full_klass(const char *col, char *out, size_t n)
{
    const struct md_type *t = md_type_of(col);
    char k[128];
    md_short_klass(col, k, sizeof k);
    snprintf(out, n, "%s.%s", t ? t->package : "org.hisp.dhis", k);
}

bool md_valid_uid(const char *s)
{
    if (!s || strlen(s) != 11 || !isalpha((unsigned char)s[0]))
        return false;
    for (int i = 1; i < 11; i++)
        if (!isalnum((unsigned char)s[i]))
            return false;
    return true;
}
