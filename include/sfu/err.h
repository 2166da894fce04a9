/* Error codes shared by every module.
 *
 * Functions return 0 on success or a negative SFU_E* code, libuv style. The list is
 * an X-macro so that the enum and sfu_strerror() cannot drift apart. */
#ifndef SFU_ERR_H
#define SFU_ERR_H

#define SFU_ERRNO_MAP(X)                                                     \
  X(EINVAL, "invalid argument")                                              \
  X(ENOMEM, "out of memory")                                                 \
  X(ENOENT, "not found")                                                     \
  X(EEXIST, "already exists")                                                \
  X(ELIMIT, "limit exceeded")                                                \
  X(EPERM, "forbidden")                                                      \
  X(EAGAIN, "try again")                                                     \
  X(EPARSE, "malformed input")                                               \
  X(ETRUNC, "truncated input")                                               \
  X(EAUTH, "authentication failed")                                          \
  X(EUNSUPP, "unsupported")                                                  \
  X(ESTATE, "wrong state")                                                   \
  X(ECRYPTO, "crypto failure")                                               \
  X(ETOOBIG, "too big")                                                      \
  X(EIO, "i/o error")                                                        \
  X(ECLOSED, "closed")                                                       \
  X(EINTERNAL, "internal error")                                            \
  X(ETIMEDOUT, "timed out")                                                  \
  X(EREPLAY, "replayed packet")                                            \
  X(ESTALE, "stale packet")

typedef enum {
  SFU_OK = 0,
#define SFU_ERR_ENUM_(name, msg) SFU_##name,
  SFU__ERR_FIRST = -1000,
  SFU_ERRNO_MAP(SFU_ERR_ENUM_)
#undef SFU_ERR_ENUM_
  SFU__ERR_LAST
} sfu_err_t;

/* A static string for any code returned by an sfu_ function; never NULL. */
const char *sfu_strerror(int err);
/* The short name ("EINVAL") of a code; never NULL. */
const char *sfu_err_name(int err);

#endif
