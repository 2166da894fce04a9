/* Which local address a remote UDP peer talks to, so that replies leave from it.
 *
 * Why: a media loop's UDP socket is usually bound to the wildcard address (0.0.0.0 or
 * ::). For a datagram sent from such a socket the kernel picks the source address from
 * the route to the destination, which on a multi-homed host need not be the address the
 * peer sent to. ICE then fails: RFC 8445 §7.2.5.2.1 makes a check fail when the
 * response's source is not the request's destination ("non-symmetric"), and Chromium
 * drops such a response as coming from an unknown address. Seen here: Chromium's
 * 192.0.2.2 (eth0) candidate checking our 127.0.0.1 candidate got its answers from
 * 192.0.2.2:<port>, so its best-network UDP pair never succeeded and it chose TCP.
 *
 * So the socket asks for IP_PKTINFO / IPV6_RECVPKTINFO, each received datagram records
 * (remote → local destination address) in a fixed 2-way set-associative table, and each
 * datagram sent to a known remote carries IP_PKTINFO / IPV6_PKTINFO naming that source
 * (RFC 3542 §6 for IPv6; ip(7) for IPv4). An unknown remote (never heard from, or
 * evicted) gets the kernel's choice, as before. No allocation, no syscall.
 *
 * Ownership: embedded in sfu_udp_io_t; touched only by its loop's thread. */
#ifndef SFU_WORKER_UDP_PKTINFO_H
#define SFU_WORKER_UDP_PKTINFO_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sfu/addr.h"

#define SFU_UDP_PKTINFO_SETS 1024 /* x 2 ways: remotes remembered per loop */
/* Control buffer big enough for one IP_PKTINFO or IPV6_PKTINFO message. */
#define SFU_UDP_PKTINFO_CTL \
  CMSG_SPACE(sizeof(struct in6_pktinfo) > sizeof(struct in_pktinfo) ? sizeof(struct in6_pktinfo) \
                                                                    : sizeof(struct in_pktinfo))

/* A local destination address as received: family AF_INET (in4) or AF_INET6 (in6,
 * possibly v4-mapped on a dual-stack socket); ifindex as the kernel reported it. */
typedef struct {
  int family;
  uint32_t ifindex;
  union {
    struct in_addr in4;
    struct in6_addr in6;
  } a;
} sfu_udp_local_t;

typedef struct {
  sfu_addr_t remote;
  sfu_udp_local_t local;
  uint64_t stamp; /* last update, a counter; 0 = empty */
} sfu_udp_pktinfo_slot_t;

typedef struct {
  uint64_t clock;
  sfu_udp_pktinfo_slot_t slot[SFU_UDP_PKTINFO_SETS][2];
} sfu_udp_pktinfo_t;

/* Asks the kernel for the destination address of each datagram on fd (family AF_INET or
 * AF_INET6). 0 or SFU_EIO. */
int sfu_udp_pktinfo_enable(int fd, int family);
/* Reads the destination address out of a received message's control data. 0 if found,
 * SFU_ENOENT otherwise. */
int sfu_udp_pktinfo_parse(const struct msghdr *h, sfu_udp_local_t *out);
/* Remembers that remote sent to local (most recent wins). */
void sfu_udp_pktinfo_learn(sfu_udp_pktinfo_t *t, const sfu_addr_t *remote,
                           const sfu_udp_local_t *local);
/* The local address remote last sent to, or NULL. */
const sfu_udp_local_t *sfu_udp_pktinfo_lookup(const sfu_udp_pktinfo_t *t,
                                              const sfu_addr_t *remote);
/* Fills ctl (SFU_UDP_PKTINFO_CTL bytes) with the control message that makes a datagram
 * leave from local, for a socket of family sock_family; returns its length (for
 * msg_controllen), 0 if none applies. */
size_t sfu_udp_pktinfo_build(uint8_t *ctl, int sock_family, const sfu_udp_local_t *local);

#endif
