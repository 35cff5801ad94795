/* crypto_test.c — tokens, the secret key, sealed secrets and password hashes. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "harness.h"
#include "test.h"

static void check_base64url(const char *s, size_t len)
{
    CHECK_INT(strlen(s), len);
    for (size_t i = 0; i < len; i++)
        CHECKF(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]),
               "'%c' in %s is not base64url", s[i], s);
}

TEST(crypto_tokens_are_random_and_hashed_for_storage)
{
    char a[CRYPTO_TOKEN_LEN + 1], b[CRYPTO_TOKEN_LEN + 1];
    struct err e = {0};
    CHECK_INT(crypto_token_new(a, &e), 0);
    CHECK_INT(crypto_token_new(b, &e), 0);
    CHECK(strncmp(a, "d2s_", 4) == 0);
    check_base64url(a + 4, 43);
    CHECK(strcmp(a, b) != 0);

    char h[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex("abc", h);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char ha[CRYPTO_HASH_HEX_LEN + 1], ha2[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(a, ha);
    crypto_sha256_hex(a, ha2);
    CHECK_STR(ha, ha2);

    char s1[CRYPTO_RANDOM_ID_LEN + 1], s2[CRYPTO_RANDOM_ID_LEN + 1];
    CHECK_INT(crypto_random_id(s1, &e), 0);
    CHECK_INT(crypto_random_id(s2, &e), 0);
    check_base64url(s1, 43);
    CHECK(strcmp(s1, s2) != 0);
}

TEST(crypto_constant_time_compare)
{
    CHECK(crypto_str_equal("secret", "secret"));
    CHECK(!crypto_str_equal("secret", "secreT"));
    CHECK(!crypto_str_equal("secret", "secret2"));
    CHECK(!crypto_str_equal("", "x"));
    CHECK(crypto_str_equal("", ""));
    CHECK(!crypto_str_equal(NULL, "x"));
    CHECK(crypto_equal("abcd", "abcd", 4));
    CHECK(!crypto_equal("abcd", "abce", 4));
}

TEST(crypto_seal_open_round_trip)
{
    struct crypto_key k;
    struct err e = {0};
    CHECK_INT(crypto_key_load(&k, "a secret of sixteen+ chars", NULL, &e), 0);
    const char *texts[] = {"", "district-password", "ünïcödé \"quoted\" \n\t", NULL};
    for (int i = 0; texts[i]; i++) {
        char *sealed = NULL, *plain = NULL;
        size_t len = 99;
        CHECKF(crypto_seal(&k, texts[i], strlen(texts[i]), "instance:7", &sealed, &e) == 0, "%s",
               e.msg);
        CHECK(strstr(sealed, "district") == NULL);
        CHECKF(crypto_open(&k, sealed, "instance:7", &plain, &len, &e) == 0, "%s", e.msg);
        CHECK_STR(plain, texts[i]);
        CHECK_INT(len, strlen(texts[i]));
        /* a fresh nonce each time: the same text never seals the same way */
        char *again = NULL;
        CHECK_INT(crypto_seal(&k, texts[i], strlen(texts[i]), "instance:7", &again, &e), 0);
        CHECK(strcmp(sealed, again) != 0);
        free(again);
        free(sealed);
        crypto_free_secret(plain);
    }
    /* the same secret string gives the same key: a second process can open it */
    struct crypto_key k2;
    CHECK_INT(crypto_key_load(&k2, "a secret of sixteen+ chars", NULL, &e), 0);
    CHECK(crypto_equal(k.bytes, k2.bytes, sizeof k.bytes));
}

TEST(crypto_open_fails_on_wrong_key_aad_or_tampering)
{
    struct crypto_key k, other;
    struct err e = {0};
    CHECK_INT(crypto_key_load(&k, "the right secret key 123", NULL, &e), 0);
    CHECK_INT(crypto_key_load(&other, "the wrong secret key 123", NULL, &e), 0);
    char *sealed = NULL, *plain = NULL;
    size_t len;
    CHECK_INT(crypto_seal(&k, "pw", 2, NULL, &sealed, &e), 0);

    CHECKF(crypto_open(&other, sealed, NULL, &plain, &len, &e) == ERR_AUTH, "%s", e.msg);
    CHECK_CONTAINS(e.msg, "is not the one it was sealed with, or the data was altered");
    CHECK(plain == NULL);
    CHECK_INT(crypto_open(&k, sealed, "instance:1", &plain, &len, &e), ERR_AUTH);

    /* flip one bit in every position of the decoded form, one at a time, via base64 chars */
    size_t n = strlen(sealed);
    for (size_t i = 0; i < n; i++) {
        char *t = strdup(sealed);
        if (t[i] == '=') {
            free(t);
            continue;
        }
        t[i] = t[i] == 'A' ? 'B' : 'A';
        int rc = crypto_open(&k, t, NULL, &plain, &len, &e);
        CHECKF(rc != 0, "tampering at character %zu was not detected", i);
        free(t);
    }
    CHECK_INT(crypto_open(&k, "not base64!", NULL, &plain, &len, &e), ERR_INPUT);
    CHECK_CONTAINS(e.msg, "damaged");
    CHECK_INT(crypto_open(&k, "AAAA", NULL, &plain, &len, &e), ERR_INPUT);
    CHECK_INT(crypto_open(&k, "", NULL, &plain, &len, &e), ERR_INPUT);
    free(sealed);
}

TEST(crypto_secret_key_must_be_long_enough)
{
    struct crypto_key k;
    struct err e = {0};
    CHECK_INT(crypto_key_load(&k, "short", NULL, &e), ERR_INPUT);
    CHECK_CONTAINS(e.msg, "DHIS2SYNC_SECRET_KEY is too short");
}

TEST(crypto_key_file_created_0600_once_and_reused)
{
    char *dir = spec_test_dir("key");
    char path[512];
    snprintf(path, sizeof path, "%s/var/secret.key", dir);
    struct crypto_key k1, k2;
    struct err e = {0};
    CHECKF(crypto_key_load(&k1, NULL, path, &e) == 0, "%s", e.msg);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(st.st_size, 65);
    CHECK_INT(crypto_key_load(&k2, "", path, &e), 0); /* empty env value = unset */
    CHECK(crypto_equal(k1.bytes, k2.bytes, sizeof k1.bytes));

    char *sealed = NULL, *plain = NULL;
    size_t len;
    CHECK_INT(crypto_seal(&k1, "tok", 3, NULL, &sealed, &e), 0);
    CHECK_INT(crypto_open(&k2, sealed, NULL, &plain, &len, &e), 0);
    CHECK_STR(plain, "tok");
    crypto_free_secret(plain);
    free(sealed);

    /* a key file others can read is refused with the fix in the message */
    CHECK_INT(chmod(path, 0644), 0);
    CHECK(crypto_key_load(&k2, NULL, path, &e) != 0);
    CHECK_CONTAINS(e.msg, "chmod 600");
    /* a damaged key file is not silently replaced */
    CHECK_INT(chmod(path, 0600), 0);
    FILE *f = fopen(path, "w");
    fputs("zz\n", f);
    fclose(f);
    CHECK(crypto_key_load(&k2, NULL, path, &e) != 0);
    CHECK_CONTAINS(e.msg, "not 64 hex digits");
    free(dir);
}

TEST(crypto_key_file_race_gives_one_key)
{
    char *dir = spec_test_dir("race");
    char path[512];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    int fds[8][2];
    pid_t pids[8];
    for (int i = 0; i < 8; i++) {
        CHECK_INT(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            struct crypto_key k;
            struct err e = {0};
            if (crypto_key_load(&k, NULL, path, &e) != 0)
                _exit(1);
            if (write(fds[i][1], k.bytes, sizeof k.bytes) != sizeof k.bytes)
                _exit(1);
            _exit(0);
        }
    }
    unsigned char keys[8][CRYPTO_KEY_LEN];
    for (int i = 0; i < 8; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_INT(read(fds[i][0], keys[i], CRYPTO_KEY_LEN), CRYPTO_KEY_LEN);
        CHECK(crypto_equal(keys[i], keys[0], CRYPTO_KEY_LEN));
    }
    free(dir);
}

TEST(crypto_password_hash_and_verify)
{
    char h[CRYPTO_PWHASH_MAX], h2[CRYPTO_PWHASH_MAX];
    struct err e = {0};
    CHECKF(crypto_password_hash("correct horse", h, &e) == 0, "%s", e.msg);
    CHECK(strncmp(h, "$y$", 3) == 0);
    CHECK(strstr(h, "correct") == NULL);
    CHECK_INT(crypto_password_hash("correct horse", h2, &e), 0);
    CHECK(strcmp(h, h2) != 0); /* salted */
    CHECK(crypto_password_verify("correct horse", h));
    CHECK(crypto_password_verify("correct horse", h2));
    CHECK(!crypto_password_verify("correct horsE", h));
    CHECK(!crypto_password_verify("", h));
    CHECK(!crypto_password_verify("correct horse", NULL));
    CHECK(!crypto_password_verify("correct horse", "garbage"));
    CHECK(!crypto_password_verify(NULL, h));
}
