/* Replies from the address the peer sent to (see udp_pktinfo.h for why). */
#include "worker/udp_pktinfo.h"

#include <errno.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/log.h"

int sfu_udp_pktinfo_enable(int fd, int family) {
  int on = 1;
  if (family == AF_INET6) {
    /* RFC 3542 §6.1; on Linux a dual-stack socket reports IPv4 datagrams here too,
     * as v4-mapped addresses. */
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) goto fail;
    return 0;
  }
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) goto fail;
  return 0;
fail:
  SFU_WARN("udp", "cannot enable packet info: %s", strerror(errno));
  return SFU_EIO;
}

int sfu_udp_pktinfo_parse(const struct msghdr *h, sfu_udp_local_t *out) {
  if (!h->msg_control || h->msg_controllen == 0) return SFU_ENOENT;
  for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)h); c;
       c = CMSG_NXTHDR((struct msghdr *)h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memset(out, 0, sizeof *out);
      out->family = AF_INET;
      out->ifindex = (uint32_t)pi.ipi_ifindex;
      out->a.in4 = pi.ipi_addr; /* the header's destination address */
      return 0;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memset(out, 0, sizeof *out);
      out->family = AF_INET6;
      out->ifindex = pi.ipi6_ifindex;
      out->a.in6 = pi.ipi6_addr;
      return 0;
    }
  }
  return SFU_ENOENT;
}

static size_t set_of(const sfu_addr_t *remote) {
  return (size_t)(sfu_addr_hash(remote) % SFU_UDP_PKTINFO_SETS);
}

static int local_equal(const sfu_udp_local_t *a, const sfu_udp_local_t *b) {
  if (a->family != b->family || a->ifindex != b->ifindex) return 0;
  return a->family == AF_INET ? a->a.in4.s_addr == b->a.in4.s_addr
                              : memcmp(&a->a.in6, &b->a.in6, sizeof a->a.in6) == 0;
}

void sfu_udp_pktinfo_learn(sfu_udp_pktinfo_t *t, const sfu_addr_t *remote,
                           const sfu_udp_local_t *local) {
  sfu_udp_pktinfo_slot_t *s = t->slot[set_of(remote)];
  int way = -1;
  for (int i = 0; i < 2; i++)
    if (s[i].stamp && sfu_addr_equal(&s[i].remote, remote)) way = i;
  if (way >= 0 && local_equal(&s[way].local, local)) {
    s[way].stamp = ++t->clock; /* the common case: a known peer, same address */
    return;
  }
  if (way < 0) way = s[0].stamp <= s[1].stamp ? 0 : 1; /* empty or least recent */
  s[way].remote = *remote;
  s[way].local = *local;
  s[way].stamp = ++t->clock;
}

const sfu_udp_local_t *sfu_udp_pktinfo_lookup(const sfu_udp_pktinfo_t *t,
                                              const sfu_addr_t *remote) {
  const sfu_udp_pktinfo_slot_t *s = t->slot[set_of(remote)];
  for (int i = 0; i < 2; i++)
    if (s[i].stamp && sfu_addr_equal(&s[i].remote, remote)) return &s[i].local;
  return NULL;
}

size_t sfu_udp_pktinfo_build(uint8_t *ctl, int sock_family, const sfu_udp_local_t *local) {
  memset(ctl, 0, SFU_UDP_PKTINFO_CTL);
  struct msghdr h = {.msg_control = ctl, .msg_controllen = SFU_UDP_PKTINFO_CTL};
  struct cmsghdr *c = CMSG_FIRSTHDR(&h);
  if (sock_family == AF_INET && local->family == AF_INET) {
    /* ip(7): ipi_spec_dst is the source address to use; ifindex 0 lets the routing
     * table pick the interface (the reply may leave by another one than it came in). */
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi_spec_dst = local->a.in4;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  if (sock_family == AF_INET6 && local->family == AF_INET6) {
    /* RFC 3542 §6.1: ipi6_addr is the source. A link-local source only means something
     * with its interface, so keep the index there; elsewhere let routing choose. */
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi6_addr = local->a.in6;
    if (IN6_IS_ADDR_LINKLOCAL(&local->a.in6)) pi.ipi6_ifindex = local->ifindex;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  return 0;
}
