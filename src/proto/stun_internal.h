/* Private helpers shared by stun_parse.c, stun_build.c and stun_crypto.c. */
#ifndef SFU_PROTO_STUN_INTERNAL_H
#define SFU_PROTO_STUN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/stun.h"

/* HMAC-SHA1(key, a || b) into out[20] (RFC 2104; RFC 8489 §14.5), from the key's
 * precomputed pad states. Never allocates; cannot fail. */
void sfu_stun__hmac_sha1(const sfu_stun_key_t *key, const uint8_t *a, size_t a_len,
                         const uint8_t *b, size_t b_len, uint8_t out[20]);
/* 1 if equal; time independent of the contents. */
int sfu_stun__ct_eq(const uint8_t *a, const uint8_t *b, size_t n);

#endif
