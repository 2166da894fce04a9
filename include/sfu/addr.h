/* A transport address: IPv4 or IPv6 socket address plus the transport protocol.
 * Plain value type, copied freely; used as the demultiplexing key of a 5-tuple (the
 * local side is implied by the loop's socket, so remote address + proto suffices). */
#ifndef SFU_ADDR_H
#define SFU_ADDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum { SFU_PROTO_UDP = 0, SFU_PROTO_TCP = 1 } sfu_proto_t;

typedef struct {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
  uint8_t proto; /* sfu_proto_t */
} sfu_addr_t;

#define SFU_ADDR_STRLEN 64 /* "[ipv6]:port/tcp" fits */

/* Parses "1.2.3.4:5678" or "[::1]:5678" (proto UDP); 0 or SFU_EINVAL. */
int sfu_addr_parse(sfu_addr_t *a, const char *s);
/* From an IP string and a port; 0 or SFU_EINVAL. */
int sfu_addr_from_ip(sfu_addr_t *a, const char *ip, uint16_t port, sfu_proto_t proto);
/* "1.2.3.4:5678" / "[::1]:5678" (no proto suffix). Returns out. */
char *sfu_addr_format(const sfu_addr_t *a, char out[SFU_ADDR_STRLEN]);
/* Just the IP ("1.2.3.4" / "::1"). Returns out. */
char *sfu_addr_ip(const sfu_addr_t *a, char out[SFU_ADDR_STRLEN]);
uint16_t sfu_addr_port(const sfu_addr_t *a);
int sfu_addr_family(const sfu_addr_t *a); /* AF_INET or AF_INET6 */
socklen_t sfu_addr_len(const sfu_addr_t *a);
/* Family, IP, port and proto all equal. */
int sfu_addr_equal(const sfu_addr_t *a, const sfu_addr_t *b);
uint64_t sfu_addr_hash(const sfu_addr_t *a);

#endif
