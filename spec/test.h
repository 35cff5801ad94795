/* test.h — the suite's tiny framework.
 * TEST(name) registers a test; the runner (spec/run.c) runs each one in a forked child, in its
 * own process group, with a timeout, so one crash or hang fails one test and the suite goes
 * on. A CHECK that fails prints what it expected and what it saw, and ends the test. */
#ifndef DHIS2SYNC_TEST_H
#define DHIS2SYNC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn, int timeout_s);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

#define TEST_TIMEOUT(name, seconds)                                                     \
    static void name(void);                                                             \
    __attribute__((constructor)) static void register_##name(void)                      \
    {                                                                                   \
        test_register(#name, __FILE__, name, seconds);                                  \
    }                                                                                   \
    static void name(void)
#define TEST(name) TEST_TIMEOUT(name, 120)

/* Under ASan: fails the test if LeakSanitizer finds memory that nothing points to any more.
 * For unit tests of host code; the spawned programs are checked by LSan when they exit. */
void spec_check_leaks(const char *file, int line);
#define CHECK_NO_LEAKS() spec_check_leaks(__FILE__, __LINE__)

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond))                                                                    \
            test_fail(__FILE__, __LINE__, "expected %s", #cond);                        \
    } while (0)
#define CHECKF(cond, ...)                                                               \
    do {                                                                                \
        if (!(cond))                                                                    \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                 \
    } while (0)
#define CHECK_INT(actual, expected)                                                     \
    do {                                                                                \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                 \
        if (a_ != e_)                                                                   \
            test_fail(__FILE__, __LINE__, "%s: expected %lld, saw %lld", #actual, e_, a_); \
    } while (0)
#define CHECK_STR(actual, expected)                                                     \
    do {                                                                                \
        const char *a_ = (actual), *e_ = (expected);                                    \
        if (!a_ || !e_ || strcmp(a_, e_) != 0)                                          \
            test_fail(__FILE__, __LINE__, "%s: expected \"%s\", saw \"%s\"", #actual,   \
                      e_ ? e_ : "(null)", a_ ? a_ : "(null)");                          \
    } while (0)
#define CHECK_CONTAINS(haystack, needle)                                                \
    do {                                                                                \
        const char *h_ = (haystack), *n_ = (needle);                                    \
        if (!h_ || !strstr(h_, n_))                                                     \
            test_fail(__FILE__, __LINE__, "%s: expected it to contain \"%s\", saw \"%.2000s\"", \
                      #haystack, n_, h_ ? h_ : "(null)");                               \
    } while (0)

#endif
