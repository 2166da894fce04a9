/* SRTP keying material handed from the DTLS core to the SRTP wrapper (RFC 5764 §4.2).
 * A separate header so that srtp.h does not depend on OpenSSL-facing dtls.h. */
#ifndef SFU_SRTP_KEYS_H
#define SFU_SRTP_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Values are the DTLS-SRTP protection profile ids: RFC 5764 §4.1.2 (0x0001) and
 * RFC 7714 §14.2 (0x0007). */
typedef enum { SFU_SRTP_AES128_CM_SHA1_80 = 1, SFU_SRTP_AEAD_AES_128_GCM = 7 } sfu_srtp_profile_t;

/* Master keys and salts of both directions, copied out of the DTLS exporter. Plain data:
 * the owner is whoever holds the struct; wipe it (memset) once libsrtp has the keys. */
typedef struct {
  sfu_srtp_profile_t profile;
  uint8_t client_key[16], client_salt[14]; /* GCM uses the first 12 salt bytes */
  uint8_t server_key[16], server_salt[14];
  size_t key_len, salt_len; /* 16/14 for AES_CM, 16/12 for GCM */
} sfu_srtp_keys_t;

#endif
