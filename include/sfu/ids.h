/* Identifiers and secrets: UUIDs for meetings and attendees, join tokens, random bytes.
 * Randomness comes from OpenSSL's RAND_bytes (CSPRNG, thread-safe in OpenSSL 3). */
#ifndef SFU_IDS_H
#define SFU_IDS_H

#include <stddef.h>
#include <stdint.h>

#define SFU_UUID_LEN 36      /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" without NUL */
#define SFU_TOKEN_BYTES 24   /* 192 random bits */
#define SFU_TOKEN_LEN 32     /* base64url of 24 bytes, without NUL */

/* Fills buf with cryptographically random bytes; returns 0 or SFU_EINTERNAL. */
int sfu_random_bytes(void *buf, size_t len);
/* A random (version 4) UUID, lower-case, NUL-terminated into out[SFU_UUID_LEN + 1]. */
int sfu_uuid_v4(char out[SFU_UUID_LEN + 1]);
/* 1 if s is a canonical UUID (8-4-4-4-12 hex digits, any version), else 0. */
int sfu_uuid_valid(const char *s);
/* A join token: SFU_TOKEN_BYTES random bytes, base64url, NUL-terminated. */
int sfu_token_new(char out[SFU_TOKEN_LEN + 1]);
/* Random string of ASCII [A-Za-z0-9+/] characters (ICE ufrag/pwd), NUL-terminated. */
int sfu_random_ice_chars(char *out, size_t n_chars);
/* Constant-time comparison of two byte strings of possibly different lengths: the time
 * depends only on len_b (the secret's length), never on where they differ. */
int sfu_ct_equal(const void *a, size_t len_a, const void *b, size_t len_b);

#endif
