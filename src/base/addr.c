#include "sfu/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/hmap.h"

int sfu_addr_from_ip(sfu_addr_t *a, const char *ip, uint16_t port, sfu_proto_t proto) {
  memset(a, 0, sizeof *a);
  a->proto = (uint8_t)proto;
  if (inet_pton(AF_INET, ip, &a->u.in4.sin_addr) == 1) {
    a->u.in4.sin_family = AF_INET;
    a->u.in4.sin_port = htons(port);
    return 0;
  }
  if (inet_pton(AF_INET6, ip, &a->u.in6.sin6_addr) == 1) {
    a->u.in6.sin6_family = AF_INET6;
    a->u.in6.sin6_port = htons(port);
    return 0;
  }
  return SFU_EINVAL;
}

int sfu_addr_parse(sfu_addr_t *a, const char *s) {
  char ip[INET6_ADDRSTRLEN + 1];
  const char *colon;
  if (!s) return SFU_EINVAL;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof ip) return SFU_EINVAL;
    memcpy(ip, s + 1, (size_t)(end - s - 1));
    ip[end - s - 1] = 0;
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof ip) return SFU_EINVAL;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = 0;
  }
  char *endp;
  long port = strtol(colon + 1, &endp, 10);
  if (*endp || endp == colon + 1 || port < 0 || port > 65535) return SFU_EINVAL;
  return sfu_addr_from_ip(a, ip, (uint16_t)port, SFU_PROTO_UDP);
}

char *sfu_addr_ip(const sfu_addr_t *a, char out[SFU_ADDR_STRLEN]) {
  out[0] = 0;
  if (a->u.sa.sa_family == AF_INET) inet_ntop(AF_INET, &a->u.in4.sin_addr, out, SFU_ADDR_STRLEN);
  else if (a->u.sa.sa_family == AF_INET6) inet_ntop(AF_INET6, &a->u.in6.sin6_addr, out, SFU_ADDR_STRLEN);
  return out;
}

char *sfu_addr_format(const sfu_addr_t *a, char out[SFU_ADDR_STRLEN]) {
  char ip[SFU_ADDR_STRLEN];
  sfu_addr_ip(a, ip);
  if (a->u.sa.sa_family == AF_INET6) snprintf(out, SFU_ADDR_STRLEN, "[%.46s]:%u", ip, sfu_addr_port(a));
  else snprintf(out, SFU_ADDR_STRLEN, "%.46s:%u", ip, sfu_addr_port(a));
  return out;
}

uint16_t sfu_addr_port(const sfu_addr_t *a) {
  return ntohs(a->u.sa.sa_family == AF_INET6 ? a->u.in6.sin6_port : a->u.in4.sin_port);
}

int sfu_addr_family(const sfu_addr_t *a) { return a->u.sa.sa_family; }

socklen_t sfu_addr_len(const sfu_addr_t *a) {
  return a->u.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int sfu_addr_equal(const sfu_addr_t *a, const sfu_addr_t *b) {
  if (a->proto != b->proto || a->u.sa.sa_family != b->u.sa.sa_family) return 0;
  if (a->u.sa.sa_family == AF_INET)
    return a->u.in4.sin_port == b->u.in4.sin_port &&
           a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
  return a->u.in6.sin6_port == b->u.in6.sin6_port &&
         memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0;
}

uint64_t sfu_addr_hash(const sfu_addr_t *a) {
  uint8_t key[1 + 2 + 16];
  size_t n = 3;
  key[0] = a->proto;
  if (a->u.sa.sa_family == AF_INET) {
    memcpy(key + 1, &a->u.in4.sin_port, 2);
    memcpy(key + 3, &a->u.in4.sin_addr, 4);
    n += 4;
  } else {
    memcpy(key + 1, &a->u.in6.sin6_port, 2);
    memcpy(key + 3, &a->u.in6.sin6_addr, 16);
    n += 16;
  }
  return sfu_hash_bytes(key, n);
}
