/* The deployment files, checked without a Docker engine (spec/compose_check.sh): the compose
 * file resolves, only port 4999 is published, the Dockerfile keeps its promises. */
#include "harness.h"
#include "test.h"

TEST(compose_file_and_dockerfile_pass_their_checks)
{
    char *argv[] = {"/bin/bash", "spec/compose_check.sh", NULL};
    char *out = NULL;
    int rc = spec_run(argv, NULL, NULL, &out);
    CHECKF(rc == 0, "spec/compose_check.sh failed (exit %d):\n%s", rc, out ? out : "");
    /* in CI docker-compose is installed (.ci/deps.sh), so the compose checks must have run
     * (hadolint has no Debian package: its skip is expected) */
    if (getenv("CI"))
        CHECKF(!strstr(out, "compose checks skipped"), "the compose checks were skipped:\n%s", out);
    free(out);
}
