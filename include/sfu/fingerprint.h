/* DTLS certificate fingerprints as SDP carries them (RFC 8122 §5,
 * "a=fingerprint:sha-256 AB:CD:..."): the one definition the SDP parser, the transport and
 * the DTLS core share, so that they agree on which hash functions exist, which the worker
 * accepts, how a value is written, and how a set of fingerprints is matched.
 *
 * - Hash functions: RFC 8122 §5 names sha-1, sha-224, sha-256, sha-384, sha-512, md5 and
 *   md2. The worker verifies with the five SHA ones (all OpenSSL 3 has). MD2 and MD5 are
 *   recognised only to be refused: implementations "MUST NOT use the MD2 and MD5 hash
 *   functions to calculate fingerprints or to verify received fingerprints that have been
 *   calculated using them" (RFC 8122 §5).
 * - Values are kept as digest bytes, not text: sha-512 is 64 bytes (191 characters as
 *   text), and comparing bytes has no case or separator question left.
 * - A set is what one SDP level (session, or an m-section) offers. RFC 8122 §5: "An
 *   endpoint MUST select the set of fingerprints that use its most preferred hash function
 *   (out of those offered by the peer) and verify that each certificate used matches one
 *   fingerprint out of that set." The worker prefers the strongest hash offered, so a
 *   weaker hash in the set can never stand in for a stronger one.
 *
 * Threads: pure functions on caller-owned values; call from any thread. */
#ifndef SFU_FINGERPRINT_H
#define SFU_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  SFU_FP_NONE = 0, /* unknown name */
  SFU_FP_SHA1,
  SFU_FP_SHA224,
  SFU_FP_SHA256,
  SFU_FP_SHA384,
  SFU_FP_SHA512,
  SFU_FP_MD5, /* named by RFC 8122 §5, refused by it: never usable */
  SFU_FP_MD2
} sfu_fp_hash_t;

#define SFU_FP_MAX_DIGEST 64 /* sha-512 */
/* Text form "AB:CD:...": 3 characters a byte, the last ':' replaced by the NUL. */
#define SFU_FP_TEXT_MAX (3 * SFU_FP_MAX_DIGEST)
/* Fingerprints kept per set. One certificate under the five usable hashes, or a few
 * certificates (RFC 8122 §5 allows several), fit; an offer with more is refused. */
#define SFU_FP_SET_MAX 8

/* One fingerprint. Plain value, copied freely. */
typedef struct {
  sfu_fp_hash_t hash;
  uint8_t len; /* sfu_fp_hash_size(hash) */
  uint8_t digest[SFU_FP_MAX_DIGEST];
} sfu_fingerprint_t;

/* The fingerprints one SDP level offers, without duplicates, in offer order. Plain value. */
typedef struct {
  size_t n;
  sfu_fingerprint_t fp[SFU_FP_SET_MAX];
} sfu_fingerprint_set_t;

/* RFC 8122 §5 hash-func name, case-insensitive (RFC 5234 §2.3: ABNF strings are), not
 * NUL-terminated; SFU_FP_NONE if unknown. */
sfu_fp_hash_t sfu_fp_hash_from_name(const char *name, size_t len);
/* "sha-256" ...; "" for SFU_FP_NONE. */
const char *sfu_fp_hash_name(sfu_fp_hash_t h);
/* Digest size in bytes; 0 for SFU_FP_NONE. */
size_t sfu_fp_hash_size(sfu_fp_hash_t h);
/* 1 for the SHA hashes the worker verifies with; 0 for md5, md2 and NONE. */
int sfu_fp_hash_usable(sfu_fp_hash_t h);

/* Parses the text value for hash h: exactly sfu_fp_hash_size(h) hex pairs (either case)
 * separated by single ':'; not NUL-terminated. 0, or SFU_EINVAL (h NONE, bad shape). */
int sfu_fingerprint_parse(sfu_fingerprint_t *fp, sfu_fp_hash_t h, const char *text, size_t len);
/* Writes the text value, upper-case (RFC 8122 §5 UHEX); "" if cap < 3 * len. Returns out. */
char *sfu_fingerprint_format(const sfu_fingerprint_t *fp, char *out, size_t cap);
int sfu_fingerprint_equal(const sfu_fingerprint_t *a, const sfu_fingerprint_t *b);

/* Adds fp (usable hash, right length) unless an equal one is there (then nothing).
 * 0, SFU_EINVAL for an unusable or malformed fp, SFU_ELIMIT when the set is full. */
int sfu_fingerprint_set_add(sfu_fingerprint_set_t *s, const sfu_fingerprint_t *fp);
/* Same members, in any order. */
int sfu_fingerprint_set_equal(const sfu_fingerprint_set_t *a, const sfu_fingerprint_set_t *b);
/* At least one member in common. */
int sfu_fingerprint_set_intersects(const sfu_fingerprint_set_t *a, const sfu_fingerprint_set_t *b);
/* The hash a certificate is checked with (RFC 8122 §5 selection): the strongest hash
 * present; SFU_FP_NONE for an empty set. */
sfu_fp_hash_t sfu_fingerprint_set_preferred(const sfu_fingerprint_set_t *s);
/* Whether `digest` (a certificate hashed with sfu_fingerprint_set_preferred(s)) equals a
 * member of that hash. Every member of that hash is compared, in constant time each. */
int sfu_fingerprint_set_matches(const sfu_fingerprint_set_t *s, const uint8_t *digest, size_t len);

#endif
