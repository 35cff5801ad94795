#include "crypto.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SEAL_VERSION = 1, NONCE_LEN = 12, TAG_LEN = 16 };

/* The HKDF label: changing it changes every derived key, so it is part of the storage format. */
static const char hkdf_salt[] = "dhis2sync";
static const char hkdf_info[] = "dhis2sync instance credentials v1";

int crypto_random(void *buf, size_t n, struct err *e)
{
    if (n > INT_MAX || RAND_bytes(buf, (int)n) != 1)
        return err_set(e, ERR_INTERNAL, "the system random number generator failed");
    return 0;
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0, o = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
    }
    out[o] = '\0';
}

int crypto_random_id(char out[CRYPTO_RANDOM_ID_LEN + 1], struct err *e)
{
    unsigned char raw[32];
    int rc = crypto_random(raw, sizeof raw, e);
    if (rc == 0)
        base64url(raw, sizeof raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

int crypto_token_new(char out[CRYPTO_TOKEN_LEN + 1], struct err *e)
{
    memcpy(out, CRYPTO_TOKEN_PREFIX, sizeof CRYPTO_TOKEN_PREFIX - 1);
    return crypto_random_id(out + sizeof CRYPTO_TOKEN_PREFIX - 1, e);
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void crypto_sha256_hex(const char *s, char out[CRYPTO_HASH_HEX_LEN + 1])
{
    unsigned char md[32];
    /* SHA256() cannot fail for in-memory input short of a broken OpenSSL build */
    SHA256((const unsigned char *)s, strlen(s), md);
    to_hex(md, sizeof md, out);
}

bool crypto_equal(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }

bool crypto_str_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    /* Comparing digests makes the time independent of both contents and of which string is
     * shorter; a collision of SHA-256 is not a practical concern. */
    unsigned char da[32], db[32];
    SHA256((const unsigned char *)a, strlen(a), da);
    SHA256((const unsigned char *)b, strlen(b), db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0 && strlen(a) == strlen(b);
}

static int derive_key(struct crypto_key *key, const char *secret, struct err *e)
{
    int rc = ERR_INTERNAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (!ctx) {
        rc = err_set(e, ERR_INTERNAL, "OpenSSL has no HKDF; cannot derive the secret key");
        goto out;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, strlen(secret)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)hkdf_salt,
                                          sizeof hkdf_salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hkdf_info,
                                          sizeof hkdf_info - 1),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(ctx, key->bytes, sizeof key->bytes, params) != 1) {
        rc = err_set(e, ERR_INTERNAL, "deriving the key from DHIS2SYNC_SECRET_KEY failed");
        goto out;
    }
    rc = 0;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads a key file. Returns 0, ERR_NOT_FOUND when it does not exist, or another error. */
static int read_key_file(struct crypto_key *key, const char *path, struct err *e)
{
    char buf[CRYPTO_KEY_LEN * 2 + 2];
    int rc = ERR_INTERNAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ERR_NOT_FOUND;
        return err_set(e, ERR_INTERNAL, "cannot read the secret key file %s: %s", path,
                       strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = err_set(e, ERR_INTERNAL, "cannot read the secret key file %s: %s", path,
                     strerror(errno));
        goto out;
    }
    if (st.st_mode & 077) {
        rc = err_set(e, ERR_INTERNAL,
                     "the secret key file %s can be read by other users (mode %03o); run chmod 600 "
                     "on it",
                     path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
        rc = err_set(e, ERR_INTERNAL, "cannot read the secret key file %s: %s", path,
                     strerror(errno));
        goto out;
    }
    /* 64 hex digits, optionally followed by one newline (buf has room to see one more) */
    size_t digits = (size_t)n;
    if (digits > 0 && buf[digits - 1] == '\n')
        digits--;
    bool ok = digits == CRYPTO_KEY_LEN * 2;
    for (size_t i = 0; ok && i < digits; i += 2) {
        int hi = hex_value(buf[i]), lo = hex_value(buf[i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            key->bytes[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    if (!ok) {
        rc = err_set(e, ERR_INTERNAL,
                     "the secret key file %s is not 64 hex digits; restore it from a backup (the "
                     "stored instance credentials need it)",
                     path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return rc;
}

/* mkdir -p of the directory part of path, mode 0700 for what it creates. */
static int make_parent_dirs(const char *path, struct err *e)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return err_set(e, ERR_INPUT, "the secret key path is too long");
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return err_set(e, ERR_INTERNAL, "cannot create directory %s for the secret key: %s",
                           dir, strerror(errno));
        *p = '/';
    }
    return 0;
}

/* Writes a new random key to a private temporary file and hard-links it into place: link()
 * never replaces an existing file, so when two processes race, one key wins and both use it. */
static int create_key_file(struct crypto_key *key, const char *path, struct err *e)
{
    char tmp[PATH_MAX], hex[CRYPTO_KEY_LEN * 2 + 2];
    int rc, fd = -1;
    if ((rc = make_parent_dirs(path, e)) != 0)
        return rc;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return err_set(e, ERR_INPUT, "the secret key path is too long");
    if ((rc = crypto_random(key->bytes, sizeof key->bytes, e)) != 0)
        return rc;
    to_hex(key->bytes, sizeof key->bytes, hex);
    hex[CRYPTO_KEY_LEN * 2] = '\n';
    unlink(tmp); /* a leftover of a crashed process with our pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = err_set(e, ERR_INTERNAL, "cannot create the secret key file %s: %s", tmp,
                     strerror(errno));
        goto out;
    }
    if (write(fd, hex, sizeof hex - 1) != (ssize_t)sizeof hex - 1 || fsync(fd) != 0) {
        rc = err_set(e, ERR_INTERNAL, "cannot write the secret key file %s: %s", tmp,
                     strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) /* another process was first: use its key */
            rc = read_key_file(key, path, e);
        else
            rc = err_set(e, ERR_INTERNAL, "cannot create the secret key file %s: %s", path,
                         strerror(errno));
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(hex, sizeof hex);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return rc;
}

int crypto_key_load(struct crypto_key *key, const char *secret, const char *key_path, struct err *e)
{
    if (secret && *secret) {
        if (strlen(secret) < CRYPTO_SECRET_MIN_LEN)
            return err_set(e, ERR_INPUT,
                           "DHIS2SYNC_SECRET_KEY is too short: use at least %d characters",
                           CRYPTO_SECRET_MIN_LEN);
        return derive_key(key, secret, e);
    }
    if (!key_path || !*key_path)
        return err_set(e, ERR_INPUT, "no secret key: set DHIS2SYNC_SECRET_KEY or a key file path");
    int rc = read_key_file(key, key_path, e);
    if (rc == ERR_NOT_FOUND)
        rc = create_key_file(key, key_path, e);
    return rc;
}

static char *base64_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* Returns the decoded length, or -1 when s is not base64. *out is malloc'd. */
static long base64_decode(const char *s, unsigned char **out)
{
    size_t len = strlen(s);
    *out = NULL;
    if (len == 0 || len % 4 != 0 || len > INT_MAX)
        return -1;
    unsigned char *buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return -1;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
    if (n < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    n -= (s[len - 1] == '=') + (s[len - 2] == '=');
    /* Only the canonical encoding is accepted, so that no two texts open to the same secret
     * (unused low bits of the last character must be zero). */
    char *again = base64_encode(buf, (size_t)n);
    bool canonical = again && strcmp(again, s) == 0;
    free(again);
    if (!canonical) {
        free(buf);
        return -1;
    }
    *out = buf;
    return n;
}

int crypto_seal(const struct crypto_key *key, const void *plain, size_t len, const char *aad,
                char **out, struct err *e)
{
    int rc = ERR_INTERNAL, n = 0;
    *out = NULL;
    if (len > INT_MAX / 2)
        return err_set(e, ERR_TOO_LARGE, "the secret is too large to store");
    size_t total = 1 + NONCE_LEN + len + TAG_LEN;
    unsigned char *buf = malloc(total);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        rc = err_set(e, ERR_INTERNAL, "out of memory sealing a secret");
        goto out;
    }
    buf[0] = SEAL_VERSION;
    if ((rc = crypto_random(buf + 1, NONCE_LEN, e)) != 0)
        goto out;
    unsigned char *ct = buf + 1 + NONCE_LEN;
    /* the version byte is authenticated too, so it cannot be swapped for another format's */
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, buf + 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, buf, 1) != 1 ||
        (aad &&
         EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1) ||
        EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + len) != 1) {
        rc = err_set(e, ERR_INTERNAL, "AES-256-GCM encryption failed");
        goto out;
    }
    if (!(*out = base64_encode(buf, total))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory sealing a secret");
        goto out;
    }
    rc = 0;
out:
    if (buf)
        OPENSSL_clear_free(buf, total);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int crypto_open(const struct crypto_key *key, const char *sealed, const char *aad, char **plain,
                size_t *len, struct err *e)
{
    int rc = 0, n = 0;
    unsigned char *buf = NULL;
    char *pt = NULL;
    size_t ct_len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    *plain = NULL;
    long total = sealed ? base64_decode(sealed, &buf) : -1;
    if (total < 0 || total < 1 + NONCE_LEN + TAG_LEN) {
        rc = err_set(e, ERR_INPUT, "the stored secret is damaged (not a sealed secret)");
        goto out;
    }
    if (buf[0] != SEAL_VERSION) {
        rc = err_set(e, ERR_INPUT,
                     "the stored secret has format version %d, which this version of "
                     "dhis2sync cannot read",
                     buf[0]);
        goto out;
    }
    ct_len = (size_t)total - 1 - NONCE_LEN - TAG_LEN;
    unsigned char *ct = buf + 1 + NONCE_LEN;
    pt = malloc(ct_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!pt || !ctx) {
        rc = err_set(e, ERR_INTERNAL, "out of memory opening a secret");
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, buf + 1) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, buf, 1) != 1 ||
        (aad &&
         EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1) ||
        EVP_DecryptUpdate(ctx, (unsigned char *)pt, &n, ct, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, ct + ct_len) != 1) {
        rc = err_set(e, ERR_INTERNAL, "AES-256-GCM decryption failed");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)pt + n, &n) != 1) {
        rc = err_set(
            e, ERR_AUTH,
            "the stored secret cannot be decrypted: the secret key (DHIS2SYNC_SECRET_KEY or "
            "var/secret.key) is not the one it was sealed with, or the data was altered");
        goto out;
    }
    pt[ct_len] = '\0';
    *plain = pt;
    *len = ct_len;
    pt = NULL;
out:
    if (pt)
        OPENSSL_clear_free(pt, ct_len + 1);
    if (buf)
        OPENSSL_clear_free(buf, (size_t)total);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

void crypto_free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX], struct err *e)
{
    char salt[CRYPTO_PWHASH_MAX];
    unsigned char rbytes[32];
    int rc = ERR_INTERNAL;
    struct crypt_data *data = calloc(1, sizeof *data); /* ~32 KB: too big for a stack */
    if (!data) {
        rc = err_set(e, ERR_INTERNAL, "out of memory hashing a password");
        goto out;
    }
    if ((rc = crypto_random(rbytes, sizeof rbytes, e)) != 0)
        goto out;
    /* count 0 = libxcrypt's default yescrypt cost */
    if (!crypt_gensalt_rn("$y$", 0, (const char *)rbytes, sizeof rbytes, salt, sizeof salt)) {
        rc = err_set(e, ERR_INTERNAL, "libcrypt has no yescrypt: %s", strerror(errno));
        goto out;
    }
    const char *h = crypt_rn(password, salt, data, sizeof *data);
    if (!h || h[0] == '*' || strlen(h) >= CRYPTO_PWHASH_MAX) {
        rc = err_set(e, ERR_INTERNAL, "hashing the password failed");
        goto out;
    }
    memcpy(out, h, strlen(h) + 1);
    rc = 0;
out:
    OPENSSL_cleanse(rbytes, sizeof rbytes);
    if (data) {
        OPENSSL_cleanse(data, sizeof *data);
        free(data);
    }
    return rc;
}

bool crypto_password_verify(const char *password, const char *hash)
{
    /* a real yescrypt hash of a password nobody knows: costs the same as a real check */
    static const char dummy[] =
        "$y$j9T$xIudIsLYibY9VHR8VWDNf1$ul1XepIxzJkBnu5tyolf9Jwj3MIi6MrRBCA1.u35vJ9";
    bool ok = false;
    struct crypt_data *data = calloc(1, sizeof *data);
    if (!data || !password)
        goto out;
    const char *h = crypt_rn(password, hash ? hash : dummy, data, sizeof *data);
    ok = hash && h && h[0] != '*' && crypto_str_equal(h, hash);
out:
    if (data) {
        OPENSSL_cleanse(data, sizeof *data);
        free(data);
    }
    return ok;
}
