/* backup_fuzz.c — the archive reader of `dhis2sync restore` (backup_check: tar headers, member
 * paths and sizes, the manifest, checksums, migrations), which runs before any database is
 * touched; restoring the dump itself (pg_restore) is not fuzzed. Archives are trusted as admin
 * input but parsed defensively. Before reading, the harness rewrites the checksum of each tar
 * header it can find, so that mutations get past the checksum to the code behind it.
 * Runs from the repository's root (the migrations are read from db/). */
#include <unistd.h>

#include "backup.h"
#include "fuzz.h"

enum { BLOCK = 512 };

static void fix_checksums(uint8_t *a, size_t size)
{
    for (size_t at = 0; at + BLOCK <= size;) {
        uint8_t *h = a + at;
        unsigned sum = 0;
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (sum == 8 * ' ')
            return; /* the end-of-archive mark */
        char field[9];
        snprintf(field, sizeof field, "%06o", sum & 0777777);
        memcpy(h + 148, field, 7);
        h[155] = ' ';
        char size_field[13];
        memcpy(size_field, h + 124, 12);
        size_field[12] = '\0';
        unsigned long long len = strtoull(size_field, NULL, 8);
        if (len > size)
            return;
        at += BLOCK + (len + BLOCK - 1) / BLOCK * BLOCK;
    }
}

int fuzz_backup(const uint8_t *data, size_t size)
{
    /* a file per input, removed after it: the suite's test processes end without atexit */
    char path[] = "/tmp/dhis2sync-fuzz-backup-XXXXXX";
    int fd = mkstemp(path);
    FUZZ_ASSERT(fd >= 0);
    uint8_t *archive = malloc(size ? size : 1);
    FUZZ_ASSERT(archive);
    memcpy(archive, data, size);
    fix_checksums(archive, size);
    FUZZ_ASSERT(write(fd, archive, size) == (ssize_t)size && close(fd) == 0);
    free(archive);
    struct config cfg = {.db_dir = "db"};
    struct err e = {0};
    FUZZ_ASSERT(backup_check(&cfg, path, &e) == 0 || e.msg[0]);
    unlink(path);
    return 0;
}
