/* libfuzzer.c — libFuzzer's entry for one harness; the Makefile compiles it once per harness
 * with -DFUZZ_ENTRY=fuzz_<name>. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return FUZZ_ENTRY(data, size);
}
