#include "datavalue.h"
#include "test.h"

TEST(arena_copies_strings_and_reuses_its_first_block)
{
    struct arena a = {0};
    char *s = arena_strdup(&a, "fbfJHSPpUQD");
    CHECK_STR(s, "fbfJHSPpUQD");
    CHECK(arena_strdup(&a, NULL) == NULL);
    CHECK_STR(arena_strndup(&a, "202401xx", 6), "202401");
    /* a large allocation gets its own block */
    char *big = arena_alloc(&a, 1 << 20);
    CHECK(big);
    memset(big, 1, 1 << 20);
    CHECK(a.used_bytes >= (1 << 20));
    arena_reset(&a);
    CHECK_INT(a.used_bytes, 0);
    for (int i = 0; i < 100000; i++)
        CHECK(arena_strdup(&a, "HllvX50cXC0"));
    arena_free(&a);
    CHECK(a.head == NULL);
}
