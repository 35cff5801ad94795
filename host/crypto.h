/* crypto.h — randomness, API tokens, the secret key, sealed secrets and password hashes.
 * Owns every use of libcrypto and libcrypt; callers never see a cipher or a digest API.
 * Nothing here logs, and no error message ever contains a secret, a key or a token.
 * All functions are thread-safe. */
#ifndef DHIS2SYNC_CRYPTO_H
#define DHIS2SYNC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* "d2s_" + 43 base64url characters (32 random bytes) */
#define CRYPTO_TOKEN_PREFIX "d2s_"
#define CRYPTO_TOKEN_LEN 47
/* SHA-256 as 64 lowercase hex digits */
#define CRYPTO_HASH_HEX_LEN 64
/* a session id or CSRF token: 43 base64url characters (32 random bytes) */
#define CRYPTO_RANDOM_ID_LEN 43
#define CRYPTO_KEY_LEN 32
/* the shortest DHIS2SYNC_SECRET_KEY accepted */
#define CRYPTO_SECRET_MIN_LEN 16

/* n bytes from the OS CSPRNG (via OpenSSL). */
int crypto_random(void *buf, size_t n, struct err *e);

/* A new API token (shown once to the user) and nothing else; store crypto_sha256_hex of it. */
int crypto_token_new(char out[CRYPTO_TOKEN_LEN + 1], struct err *e);
/* SHA-256 of a NUL-terminated string as hex: how tokens are stored and looked up. */
void crypto_sha256_hex(const char *s, char out[CRYPTO_HASH_HEX_LEN + 1]);
/* A random id for a session cookie or a CSRF token (base64url, 256 bits). */
int crypto_random_id(char out[CRYPTO_RANDOM_ID_LEN + 1], struct err *e);

/* Constant-time comparisons: the time taken depends on the lengths only, never on where the
 * contents differ. */
bool crypto_equal(const void *a, const void *b, size_t n);
bool crypto_str_equal(const char *a, const char *b);

/* The key that seals stored instance credentials.
 * secret (DHIS2SYNC_SECRET_KEY) non-NULL and non-empty: the key is HKDF-SHA256 of it with a
 * fixed label, so the same string gives the same key on every host; it must be at least
 * CRYPTO_SECRET_MIN_LEN characters. Otherwise the key is read from key_path (64 hex digits);
 * when that file does not exist a random key is written there once, mode 0600, atomically
 * (two processes starting together end up with the same key), creating its directory. */
struct crypto_key {
    unsigned char bytes[CRYPTO_KEY_LEN];
};
int crypto_key_load(struct crypto_key *key, const char *secret, const char *key_path,
                    struct err *e);

/* AES-256-GCM. Sealed form, as text fit for a database column: base64 (standard alphabet) of
 * version byte 1 ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag. aad (may be NULL) is
 * authenticated but not stored: the same aad must be passed to open (e.g. "instance:secret").
 * *out is malloc'd and NUL-terminated; the caller frees it. */
int crypto_seal(const struct crypto_key *key, const void *plain, size_t len, const char *aad,
                char **out, struct err *e);
/* Opens what crypto_seal made. *plain is malloc'd, NUL-terminated (len excludes the NUL);
 * free it with crypto_free_secret. A wrong key, another aad or any altered byte fails with
 * ERR_AUTH and a message saying so. */
int crypto_open(const struct crypto_key *key, const char *sealed, const char *aad, char **plain,
                size_t *len, struct err *e);
/* Wipes and frees a plaintext secret (NULL is fine). */
void crypto_free_secret(char *s);

/* yescrypt password hash ("$y$...") through libcrypt; out holds up to CRYPTO_PWHASH_MAX. */
#define CRYPTO_PWHASH_MAX 128
int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX], struct err *e);
/* true when password matches hash. A NULL hash (unknown user) still costs one yescrypt
 * computation so that timing does not reveal which user names exist. */
bool crypto_password_verify(const char *password, const char *hash);

#endif
