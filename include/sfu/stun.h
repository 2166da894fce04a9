/* STUN message codec (RFC 8489) with the ICE attributes of RFC 8445 §16.1.
 *
 * Sans-IO and allocation-free: sfu_stun_parse() fills an sfu_stun_msg_t with views into
 * the caller's buffer (valid as long as that buffer is); the builders write into a
 * caller buffer through a small sfu_stun_writer_t. Only short-term credentials (what ICE
 * uses, RFC 8489 §9.1) are supported: MESSAGE-INTEGRITY is HMAC-SHA1 keyed with the
 * password itself. Long-term credentials, MESSAGE-INTEGRITY-SHA256 verification, and
 * SASLprep are not implemented (ICE passwords are ASCII, RFC 8445 §5.3).
 *
 * Threads: every function here is reentrant, and none allocates. MESSAGE-INTEGRITY costs
 * two SHA-1 blocks less per message with a key prepared once (sfu_stun_key_t, the
 * *_keyed functions) than with a raw password, which prepares it on the stack each call.
 */
#ifndef SFU_STUN_H
#define SFU_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/addr.h"

#define SFU_STUN_HDR_LEN 20
#define SFU_STUN_MAGIC_COOKIE 0x2112A442u
#define SFU_STUN_TID_LEN 12
#define SFU_STUN_MI_LEN 20          /* HMAC-SHA1 */
#define SFU_STUN_FP_XOR 0x5354554eu /* RFC 8489 §14.7 */
#define SFU_STUN_USERNAME_MAX                                                       \
  513                          /* two 256-char ufrags and a colon (RFC 8445 §5.3); \
                                  RFC 8489 §14.3 says < 509, RFC 5389 < 513 */
#define SFU_STUN_MAX_UNKNOWN 8 /* unknown comprehension-required types remembered */

/* Methods (RFC 8489 §18.2) and classes (§5). */
enum { SFU_STUN_BINDING = 0x001 };
typedef enum {
  SFU_STUN_REQUEST = 0,
  SFU_STUN_INDICATION = 1,
  SFU_STUN_SUCCESS = 2,
  SFU_STUN_ERROR = 3
} sfu_stun_class_t;

/* Attribute types: RFC 8489 §18.3, RFC 8445 §16.1. */
enum {
  SFU_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
  SFU_STUN_ATTR_USERNAME = 0x0006,
  SFU_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
  SFU_STUN_ATTR_ERROR_CODE = 0x0009,
  SFU_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
  SFU_STUN_ATTR_REALM = 0x0014,
  SFU_STUN_ATTR_NONCE = 0x0015,
  SFU_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
  SFU_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
  SFU_STUN_ATTR_USERHASH = 0x001E,
  SFU_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
  SFU_STUN_ATTR_PRIORITY = 0x0024,
  SFU_STUN_ATTR_USE_CANDIDATE = 0x0025,
  SFU_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
  SFU_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
  SFU_STUN_ATTR_SOFTWARE = 0x8022,
  SFU_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
  SFU_STUN_ATTR_FINGERPRINT = 0x8028,
  SFU_STUN_ATTR_ICE_CONTROLLED = 0x8029,
  SFU_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* Error codes used by ICE (RFC 8489 §14.8, RFC 8445 §7.3.1.1). */
enum {
  SFU_STUN_ERR_BAD_REQUEST = 400,
  SFU_STUN_ERR_UNAUTHORIZED = 401,
  SFU_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
  SFU_STUN_ERR_ROLE_CONFLICT = 487,
};

/* A parsed STUN message: views into the buffer given to sfu_stun_parse().
 * Owner: the caller (usually on its stack); nothing to free; valid while the parsed
 * buffer is. Any thread. Only the first occurrence of a repeated attribute is kept
 * (RFC 8489 §14). Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored
 * (§14.5); nothing may follow FINGERPRINT (§14.7). */
typedef struct {
  const uint8_t *buf; /* the whole message, header included */
  size_t len;         /* 20 + the header's length field */
  uint16_t type;      /* raw message type */
  uint16_t method;    /* SFU_STUN_BINDING, ... */
  uint8_t cls;        /* sfu_stun_class_t */
  const uint8_t *tid; /* 12-byte transaction id, inside buf */

  const char *username; /* NOT NUL-terminated; NULL if absent */
  size_t username_len;
  const char *software; /* NOT NUL-terminated; NULL if absent */
  size_t software_len;

  uint8_t has_priority, use_candidate, has_controlling, has_controlled;
  uint32_t priority;
  uint64_t tiebreaker; /* of ICE-CONTROLLING or ICE-CONTROLLED, whichever came first */

  const uint8_t *xor_mapped; /* raw attribute value (8 or 20 bytes), NULL if absent;
                                decode with sfu_stun_xor_mapped() */
  size_t xor_mapped_len;

  uint8_t has_error;
  uint16_t error_code;      /* 300..699, class * 100 + number */
  const char *error_reason; /* NOT NUL-terminated, may be empty */
  size_t error_reason_len;

  size_t integrity_off;         /* offset of the MESSAGE-INTEGRITY attribute header; 0 = absent */
  size_t fingerprint_off;       /* offset of the FINGERPRINT attribute header; 0 = absent */
  uint8_t has_integrity_sha256; /* present but not verified by this codec */

  /* Comprehension-required (type < 0x8000) attributes this codec does not know,
   * before MESSAGE-INTEGRITY: a server answers 420 (RFC 8489 §6.3.1.1). */
  uint16_t unknown[SFU_STUN_MAX_UNKNOWN];
  uint8_t n_unknown; /* how many stored (at most SFU_STUN_MAX_UNKNOWN) */
  uint16_t n_attrs;  /* attributes walked, ignored ones included */
} sfu_stun_msg_t;

/* 1 if buf may be a STUN message (RFC 7983 first byte 0..3 plus the magic cookie): a
 * cheap classifier, no full parse. */
int sfu_stun_is_stun(const uint8_t *buf, size_t len);

/* Structural parse (RFC 8489 §5, §14): header (top two bits zero, magic cookie, length a
 * multiple of 4 and equal to the attributes' size), every attribute inside the message,
 * known attributes with legal lengths. `len` must be exactly the message (one UDP
 * datagram or one RFC 4571 frame). Does not check integrity or fingerprint.
 * 0; SFU_ETRUNC if buf ends before the header's length says; SFU_EPARSE otherwise. */
int sfu_stun_parse(const uint8_t *buf, size_t len, sfu_stun_msg_t *msg);

/* FINGERPRINT (RFC 8489 §14.7): 0 if present and correct; SFU_EAUTH if wrong;
 * SFU_ENOENT if absent. */
int sfu_stun_check_fingerprint(const sfu_stun_msg_t *msg);

/* A short-term credential's MESSAGE-INTEGRITY key (RFC 8489 §9.1.1: the password
 * itself) made ready for HMAC-SHA1: the SHA-1 chaining values after the blocks
 * K ^ ipad and K ^ opad (RFC 2104 §2), which are the same for every message under that
 * key. Made once per password (e.g. by the ICE agent when it gets its credentials, RFC
 * 8445 §7.2.2); plain data: copy it, embed it, no free. Owner: the caller; read-only
 * after sfu_stun_key_init(), so any number of threads may use one key. */
typedef struct {
  uint32_t inner[5]; /* SHA-1 state after K ^ ipad */
  uint32_t outer[5]; /* SHA-1 state after K ^ opad */
} sfu_stun_key_t;

/* Prepares *k from key (any length; longer than 64 bytes is hashed first, RFC 2104 §2;
 * empty is a valid key). 0, or SFU_EINVAL (k NULL, or key NULL with key_len > 0). */
int sfu_stun_key_init(sfu_stun_key_t *k, const uint8_t *key, size_t key_len);

/* MESSAGE-INTEGRITY with a short-term credential (RFC 8489 §9.1, §14.5): 0 if present
 * and correct for key; SFU_EAUTH if wrong; SFU_ENOENT if absent; SFU_EINVAL if key is NULL
 * with key_len > 0. Constant-time comparison. */
int sfu_stun_check_integrity(const sfu_stun_msg_t *msg, const uint8_t *key, size_t key_len);
/* The same with a prepared key: two SHA-1 blocks less. */
int sfu_stun_check_integrity_keyed(const sfu_stun_msg_t *msg, const sfu_stun_key_t *key);

/* The local ufrag of a request's USERNAME "LFRAG:RFRAG" (RFC 8445 §7.2.2): a view, no
 * copy. The remote one likewise. 0, SFU_ENOENT (no USERNAME), or SFU_EPARSE (no ':'). */
int sfu_stun_username_local(const sfu_stun_msg_t *msg, const char **ufrag, size_t *len);
int sfu_stun_username_remote(const sfu_stun_msg_t *msg, const char **ufrag, size_t *len);

/* Decodes XOR-MAPPED-ADDRESS (RFC 8489 §14.2) into out (proto set to UDP; the caller
 * sets the real transport). 0, SFU_ENOENT if absent, SFU_EPARSE if the family is bad. */
int sfu_stun_xor_mapped(const sfu_stun_msg_t *msg, sfu_addr_t *out);

/* Name of a class ("request", "indication", "success", "error"). */
const char *sfu_stun_class_name(int cls);
/* CRC-32 (ISO-HDLC, the one FINGERPRINT uses), exported for tests and tools. */
uint32_t sfu_stun_crc32(const uint8_t *buf, size_t len);

/* ---- Builders ---------------------------------------------------------------------- */

/* Writes one message into caller memory. Owner: the caller (stack); any thread.
 * Errors are sticky: after one failure (too small a buffer) every later call fails
 * and sfu_stun_w_finish() returns the first error, so callers check once at the end. */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  int err;
  uint8_t pad_byte; /* value of padding bytes; 0 by default (receivers ignore it, §14) */
} sfu_stun_writer_t;

void sfu_stun_w_init(sfu_stun_writer_t *w, uint8_t *buf, size_t cap, uint16_t method,
                     sfu_stun_class_t cls, const uint8_t tid[SFU_STUN_TID_LEN]);
void sfu_stun_w_attr(sfu_stun_writer_t *w, uint16_t type, const void *val, size_t len);
void sfu_stun_w_u32(sfu_stun_writer_t *w, uint16_t type, uint32_t v);
void sfu_stun_w_u64(sfu_stun_writer_t *w, uint16_t type, uint64_t v);
void sfu_stun_w_xor_addr(sfu_stun_writer_t *w, uint16_t type, const sfu_addr_t *a);
void sfu_stun_w_error(sfu_stun_writer_t *w, uint16_t code, const char *reason);
/* MESSAGE-INTEGRITY over everything written so far (§14.5). */
void sfu_stun_w_integrity(sfu_stun_writer_t *w, const uint8_t *key, size_t key_len);
void sfu_stun_w_integrity_keyed(sfu_stun_writer_t *w, const sfu_stun_key_t *key);
/* FINGERPRINT; must be the last attribute (§14.7). */
void sfu_stun_w_fingerprint(sfu_stun_writer_t *w);
/* Length of the message, or the first error (SFU_ETOOBIG, SFU_EINVAL). */
int sfu_stun_w_finish(const sfu_stun_writer_t *w);

/* Binding success response (RFC 8445 §7.3.1.4): XOR-MAPPED-ADDRESS of `mapped`,
 * MESSAGE-INTEGRITY with key, FINGERPRINT. Returns the length or a negative error. */
int sfu_stun_build_binding_success(uint8_t *buf, size_t cap, const uint8_t tid[SFU_STUN_TID_LEN],
                                   const sfu_addr_t *mapped, const uint8_t *key, size_t key_len);
int sfu_stun_build_binding_success_keyed(uint8_t *buf, size_t cap,
                                         const uint8_t tid[SFU_STUN_TID_LEN],
                                         const sfu_addr_t *mapped, const sfu_stun_key_t *key);

/* Error response of `method` (RFC 8489 §6.3.4): ERROR-CODE (with the standard reason
 * phrase), UNKNOWN-ATTRIBUTES if code is 420 and unknown != NULL, MESSAGE-INTEGRITY if
 * key != NULL (only when the request was authenticated: not for 400/401, §9.1.3),
 * FINGERPRINT. Returns the length or a negative error. */
int sfu_stun_build_error(uint8_t *buf, size_t cap, uint16_t method,
                         const uint8_t tid[SFU_STUN_TID_LEN], uint16_t code,
                         const uint16_t *unknown, size_t n_unknown, const uint8_t *key,
                         size_t key_len);
/* The same with a prepared key; key NULL: no MESSAGE-INTEGRITY. */
int sfu_stun_build_error_keyed(uint8_t *buf, size_t cap, uint16_t method,
                               const uint8_t tid[SFU_STUN_TID_LEN], uint16_t code,
                               const uint16_t *unknown, size_t n_unknown,
                               const sfu_stun_key_t *key);

/* ICE role of the sender of a binding request (RFC 8445 §7.1.3). */
typedef enum { SFU_ICE_ROLE_CONTROLLED = 0, SFU_ICE_ROLE_CONTROLLING = 1 } sfu_ice_role_t;

/* Parameters of an ICE connectivity check (RFC 8445 §7.1.1). Owner: the caller. */
typedef struct {
  const uint8_t *tid;   /* 12 bytes; the caller picks it (random, RFC 8489 §6) */
  const char *username; /* "RFRAG:LFRAG" (remote ufrag first, RFC 8445 §7.2.2) */
  const char *password; /* the remote agent's password (the MI key) */
  uint32_t priority;    /* PRIORITY of the would-be peer-reflexive candidate */
  sfu_ice_role_t role;  /* ICE-CONTROLLING or ICE-CONTROLLED */
  uint64_t tiebreaker;
  int use_candidate;    /* controlling only: nominate (RFC 8445 §8.1.1) */
  const char *software; /* optional SOFTWARE, NULL to omit */
} sfu_stun_request_params_t;

/* Binding request: [SOFTWARE] USERNAME PRIORITY ICE-CONTROLLING|ICE-CONTROLLED
 * [USE-CANDIDATE] MESSAGE-INTEGRITY FINGERPRINT. Returns the length or an error. */
int sfu_stun_build_binding_request(uint8_t *buf, size_t cap, const sfu_stun_request_params_t *p);

#endif
