/* A media loop's UDP socket: batched receive (recvmmsg) and batched send (sendmmsg).
 *
 * Why a raw non-blocking socket watched by uv_poll_t rather than uv_udp_t: libuv 1.44
 * (Debian 12) can receive with recvmmsg (UV_UDP_RECVMMSG) but sends one datagram per
 * syscall (uv_udp_try_send; a batch send only arrived in 1.48), and the architecture's
 * budget is "no syscall per packet" both ways. With the raw fd we own both batches and
 * the buffers: one fixed receive batch reused for every read (no allocation per packet;
 * the packet is processed in place — SRTP unprotects in the receive buffer), and a
 * fixed send queue flushed with one sendmmsg per loop turn (from a uv_check_t, i.e.
 * after the poll phase's callbacks and once per iteration).
 *
 * Send queue full → flushed at once; kernel buffer full (EAGAIN) → the rest of the
 * batch is dropped and counted: it is media over UDP, the senders recover (NACK,
 * retransmission timers), and holding packets longer only adds delay.
 *
 * UDP GSO (UDP_SEGMENT, Linux 4.18+): forwarding queues one copy of a packet per viewer,
 * so a turn's queue reads A,B,C,A,B,C... A flush first groups it by destination (stable:
 * each destination's datagrams keep their queue order; only the interleaving between
 * destinations changes, within one sendmmsg), then sends each run to one destination
 * (same address and source) of equal-sized datagrams, the last possibly shorter, as ONE
 * message with a UDP_SEGMENT control message and an iovec per datagram: the kernel walks
 * the UDP/IP stack once per run instead of once per datagram, and the NIC (or the
 * kernel just before it) cuts the segments. Where the kernel or the path cannot
 * (ENOPROTOOPT at the open-time probe; EIO/EINVAL on a send: no checksum offload,
 * IPsec, SO_NO_CHECK), the failed run is resent datagram by datagram and the socket
 * uses plain sendmmsg for the rest of its life (tx_gso_disabled, logged once).
 * EMSGSIZE (the route's MTU is below one segment) only splits that run.
 *
 * Ownership: embedded in the media loop (sfu_loop_t), initialised and closed on the
 * loop's thread (or before it starts), touched only by that thread. */
#ifndef SFU_WORKER_UDP_IO_H
#define SFU_WORKER_UDP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "sfu/addr.h"
#include "worker/udp_pktinfo.h"

#define SFU_UDP_RX_BATCH 32    /* datagrams per recvmmsg */
#define SFU_UDP_RX_SLOT 2048   /* > any WebRTC datagram (MTU-sized; 1500 on Ethernet) */
#define SFU_UDP_RX_ROUNDS 8    /* recvmmsg calls per readable event, for fairness */
#define SFU_UDP_TX_QUEUE 256   /* datagrams per sendmmsg flush */
#define SFU_UDP_TX_SLOT 1500
/* One GSO message: the kernel's UDP_MAX_SEGMENTS (64 up to Linux 6.10), and a payload
 * that keeps the IP packet under 64 KiB with room for IPv6 extension headers. */
#define SFU_UDP_GSO_MAX_SEGS 64
#define SFU_UDP_GSO_MAX_BYTES 65000
/* A queued datagram's control data: its source (IP_PKTINFO / IPV6_PKTINFO), and room for
 * UDP_SEGMENT when it heads a GSO run. */
#define SFU_UDP_TX_CTL (SFU_UDP_PKTINFO_CTL + CMSG_SPACE(sizeof(uint16_t)))
#define SFU_UDP_TX_GROUP_SLOTS 512 /* destination table of one flush: 2 x the queue */

/* One datagram for the owner; buf is writable and valid only during the call. now_us is
 * read once per recvmmsg batch. */
typedef void (*sfu_udp_recv_cb)(void *user, uint64_t now_us, const sfu_addr_t *from,
                                uint8_t *buf, size_t len);

typedef struct {
  uint64_t rx_packets, rx_bytes, rx_batches, rx_truncated;
  uint64_t tx_packets, tx_bytes, tx_batches, tx_dropped, tx_too_big;
  /* GSO messages sent (runs of >= 2 datagrams), the datagrams in them, and 1 once GSO is
   * off for this socket (unsupported at open, or a send failed with it). */
  uint64_t tx_gso_batches, tx_gso_segments, tx_gso_disabled;
} sfu_udp_io_stats_t;

typedef struct sfu_udp_io {
  uv_poll_t poll;
  uv_check_t check;
  int fd;
  uint16_t port;
  int open_handles;
  sfu_udp_recv_cb recv_cb;
  void *user;
  void (*closed_cb)(struct sfu_udp_io *u);
  sfu_udp_io_stats_t st;
  /* Bound to the wildcard address: replies name their source (udp_pktinfo.h). */
  int family, pktinfo;
  sfu_udp_pktinfo_t local;
  /* receive batch, reused */
  struct mmsghdr rx_msgs[SFU_UDP_RX_BATCH];
  struct iovec rx_iov[SFU_UDP_RX_BATCH];
  struct sockaddr_storage rx_addr[SFU_UDP_RX_BATCH];
  uint8_t rx_ctl[SFU_UDP_RX_BATCH][SFU_UDP_PKTINFO_CTL];
  uint8_t rx_buf[SFU_UDP_RX_BATCH][SFU_UDP_RX_SLOT];
  /* gso: runs go as UDP_SEGMENT messages (cleared for good on failure; tests and the
   * benchmark clear it to force plain sendmmsg). group: a flush groups the queue by
   * destination first (only matters with gso; the benchmark clears it to measure). */
  int gso, group;
  /* send queue, in queue order */
  size_t tx_n;
  sfu_addr_t tx_addr[SFU_UDP_TX_QUEUE];
  uint16_t tx_len[SFU_UDP_TX_QUEUE];
  uint16_t tx_ctllen[SFU_UDP_TX_QUEUE]; /* the source's control message; 0: none */
  _Alignas(struct cmsghdr) uint8_t tx_ctl[SFU_UDP_TX_QUEUE][SFU_UDP_TX_CTL];
  uint8_t tx_buf[SFU_UDP_TX_QUEUE][SFU_UDP_TX_SLOT];
  /* flush scratch: sending order (queue indices), its iovecs, one message per run */
  uint16_t tx_order[SFU_UDP_TX_QUEUE];
  struct iovec tx_iov[SFU_UDP_TX_QUEUE];
  struct mmsghdr tx_msgs[SFU_UDP_TX_QUEUE];
  uint16_t tx_msg_first[SFU_UDP_TX_QUEUE], tx_msg_segs[SFU_UDP_TX_QUEUE];
  /* grouping: destination → group (1-based; 0 empty), each group's chain of datagrams */
  uint16_t tx_gtab[SFU_UDP_TX_GROUP_SLOTS];
  uint16_t tx_next[SFU_UDP_TX_QUEUE];
  uint16_t tx_ghead[SFU_UDP_TX_QUEUE], tx_gtail[SFU_UDP_TX_QUEUE], tx_gslot[SFU_UDP_TX_QUEUE];
} sfu_udp_io_t;

/* Binds ip:port (ip "0.0.0.0" or "::" for all) and starts reading. On a wildcard
 * address each reply leaves from the local address its peer last sent to. 0 or a negative
 * SFU_E* code (SFU_EIO with the errno logged when the port is taken). */
int sfu_udp_io_open(sfu_udp_io_t *u, uv_loop_t *loop, const char *ip, uint16_t port,
                    sfu_udp_recv_cb cb, void *user);
/* Queues a copy of one datagram; flushes first when the queue is full. */
int sfu_udp_io_send(sfu_udp_io_t *u, const sfu_addr_t *to, const uint8_t *buf, size_t len);
/* Sends everything queued (also done by the loop-turn check handle): one sendmmsg, one
 * message per run to one destination (see above). */
void sfu_udp_io_flush(sfu_udp_io_t *u);
/* Flushes, closes the handles; closed_cb (may be NULL) runs once both are closed, after
 * which the socket is closed and u may be freed. */
void sfu_udp_io_close(sfu_udp_io_t *u, void (*closed_cb)(sfu_udp_io_t *u));

#endif
