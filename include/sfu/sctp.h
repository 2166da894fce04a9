/* SCTP over DTLS (RFC 8261) for WebRTC data channels (RFC 8831), with DCEP (RFC 8832),
 * on usrsctp in AF_CONN mode: one association per transport, packets in from DTLS
 * application data (sfu_sctp_handle_input), packets out through cbs->send_cb (the
 * transport hands them to sfu_dtls_send).
 *
 * usrsctp is one process-global stack (one timer wheel, one list of sockets and
 * addresses, its own internal locks). This wrapper owns it:
 *   - sfu_sctp_global_init / _shutdown: main thread only, before the first loop starts /
 *     after every loop is joined. Started with usrsctp_init_nothreads: usrsctp runs no
 *     thread of its own; timers advance only when a loop calls
 *     sfu_sctp_group_handle_timeout(now_us) (usrsctp_handle_timers(elapsed ms)), and
 *     before a call that may arm one (the calls below that take now_us) if the last
 *     advance is older than a tick, so that usrsctp dates the timer right.
 *   - sfu_sctp_group_t: one per media loop (owned by the loop's rtc), touched only by
 *     that loop's thread. Every sfu_sctp_t belongs to one group and is touched only by
 *     the group's thread.
 * Why a group: usrsctp_handle_timers runs the due timers of EVERY association in the
 * process, so a retransmission or delayed SACK of loop A's association may be produced
 * while loop B is ticking. usrsctp's callbacks (output, upcall) therefore never touch an
 * association directly unless they run on its own thread inside one of its calls: from a
 * foreign thread they only copy the packet into the association's small locked queue and
 * flag it; the owning loop drains it on its next tick (within SFU_SCTP_TICK_US for a
 * retransmission, at its due time for a delayed SACK, within SFU_SCTP_IDLE_TICK_US for
 * an idle association's heartbeat: see "Ticks").
 * Associations are found by an integer id under one mutex, never by pointer, so a
 * callback that races with sfu_sctp_free finds nothing and drops the packet. The mutex
 * is never held while calling into usrsctp (usrsctp calls us with its own locks held).
 * Cost: one mutex + hash lookup per SCTP packet out and per upcall — data-channel
 * traffic only, never the RTP path.
 *
 * Re-entrancy: usrsctp calls back inside usrsctp_conninput / usrsctp_sendv /
 * usrsctp_handle_timers. Those callbacks only send (cbs->send_cb, on the owner thread) or
 * set flags; received messages, notifications and accepts are processed after usrsctp
 * returns, and cbs->on_message_cb / on_channel_cb / on_state_cb are called from there.
 * The owner must never free the association (or what owns it) from inside a callback.
 *
 * usrsctp measures RTTs with the real clock (gettimeofday) internally; only its timers
 * follow now_us. */
#ifndef SFU_SCTP_H
#define SFU_SCTP_H

#include <stddef.h>
#include <stdint.h>

/* RFC 8831 §8 / RFC 8832 §8.1: SCTP payload protocol identifiers. */
#define SFU_SCTP_PPID_DCEP 50
#define SFU_SCTP_PPID_STRING 51
#define SFU_SCTP_PPID_BINARY 53
#define SFU_SCTP_PPID_STRING_EMPTY 56
#define SFU_SCTP_PPID_BINARY_EMPTY 57

#define SFU_SCTP_DEFAULT_PORT 5000         /* RFC 8841 §5: a=sctp-port default */
#define SFU_SCTP_MAX_MESSAGE (256u * 1024) /* our a=max-message-size (sdp.h: 262144) */
#define SFU_SCTP_STREAMS 1024              /* inbound and outbound streams we ask for */
#define SFU_SCTP_MAX_CHANNELS 64           /* open channels per association (bounded table:
                                              further DCEP opens are refused, see below) */
/* Backpressure (see "Send buffer and backpressure" below). */
#define SFU_SCTP_SEND_BUFFER (256u * 1024) /* default bytes usrsctp may hold per association */
#define SFU_SCTP_LABEL_MAX 128             /* longer labels/protocols are truncated */
/* Ticks (sctp.c explains the rules): when a delayed SACK for received DATA is due;
 * every SFU_SCTP_TICK_US while DATA, a handshake, shutdown or stream reset is outstanding
 * (retransmissions); else every SFU_SCTP_IDLE_TICK_US (heartbeats, every ~30 s, need no
 * more). SFU_SCTP_BUSY_US: how long fast ticks go on after an association is created or
 * freed, or past a delayed SACK's due time if it has not gone yet. */
#define SFU_SCTP_TICK_US 10000
#define SFU_SCTP_IDLE_TICK_US 1000000
#define SFU_SCTP_SACK_DELAY_MS 200 /* RFC 4960 §6.2 delayed SACK, set at init */
#define SFU_SCTP_BUSY_US (SFU_SCTP_SACK_DELAY_MS * 1000 + 5 * SFU_SCTP_TICK_US)

/* RFC 8832 §5.1 channel types. */
#define SFU_DCEP_RELIABLE 0x00
#define SFU_DCEP_RELIABLE_UNORDERED 0x80
#define SFU_DCEP_PARTIAL_RELIABLE_REXMIT 0x01
#define SFU_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED 0x81
#define SFU_DCEP_PARTIAL_RELIABLE_TIMED 0x02
#define SFU_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED 0x82

typedef enum {
  SFU_SCTP_NONE = 0,    /* (transport figure only: no association) */
  SFU_SCTP_CONNECTING,  /* created, waiting for / doing the INIT exchange */
  SFU_SCTP_ESTABLISHED, /* COMM_UP */
  SFU_SCTP_CLOSED,      /* shut down, aborted, or lost */
} sfu_sctp_state_t;

typedef enum { SFU_SCTP_ROLE_SERVER = 0, SFU_SCTP_ROLE_CLIENT } sfu_sctp_role_t;

/* One data channel. Owned by its association's table; valid until the channel closes. */
typedef struct {
  uint16_t stream;
  uint8_t channel_type;        /* SFU_DCEP_* */
  uint8_t open;                /* ACK received/sent */
  uint8_t closing;             /* our outgoing stream reset sent, waiting for theirs */
  uint16_t priority;
  uint32_t reliability;        /* rexmit count or lifetime (ms), per channel_type */
  char label[SFU_SCTP_LABEL_MAX + 1];
  char protocol[SFU_SCTP_LABEL_MAX + 1];
} sfu_sctp_channel_t;

/* Cumulative counters of one association. */
typedef struct {
  uint64_t packets_in, bytes_in;   /* SCTP packets from DTLS */
  uint64_t packets_out, bytes_out; /* SCTP packets to DTLS */
  uint64_t messages_in, message_bytes_in; /* user messages (PPID 51/53/56/57) */
  uint64_t messages_out, message_bytes_out;
  uint64_t channels_opened, channels_closed;
  uint64_t dcep_errors;   /* malformed DCEP, OPEN on a used stream, table full */
  uint64_t channels_refused; /* of which: OPENs refused because the table was full (the
                                stream is reset, RFC 8832 §6; the association and its
                                other channels carry on) */
  uint64_t unknown_ppid;  /* messages with a PPID we do not know (dropped) */
  uint64_t no_channel;    /* user messages on a stream with no open channel (dropped) */
  uint64_t oversize;      /* messages over the max message size (dropped) */
  uint64_t queue_drops;   /* packets made on a foreign thread that did not fit the queue */
  uint64_t send_blocked;  /* sfu_sctp_send refused with SFU_EAGAIN (send buffer full) */
  uint64_t writable;      /* on_writable_cb events (low water reached after a block) */
  uint64_t partial_messages; /* messages that arrived in pieces (no MSG_EOR) and were
                                reassembled (or dropped as oversize) before delivery */
} sfu_sctp_stats_t;

typedef struct {
  sfu_sctp_role_t role;     /* server: listen + accept (the DTLS client sends INIT) */
  uint16_t local_port;      /* 0 = 5000; ours (the answer's a=sctp-port) */
  uint16_t remote_port;     /* 0 = 5000; the offer's */
  uint32_t max_message_size; /* largest message accepted; 0 = SFU_SCTP_MAX_MESSAGE */
  uint32_t remote_max_message_size; /* peer's; 0 = 65536 (RFC 8841 §6.1 default) */
  unsigned mtu;             /* SCTP path MTU; 0 = 1150 (DTLS MTU 1200 less its 37 bytes) */
  uint32_t heartbeat_ms;    /* RFC 4960 §8.3 heartbeat interval; 0 = usrsctp's 30 s */
  uint32_t send_buffer;     /* bytes usrsctp may hold (SO_SNDBUF: queued + unacknowledged);
                               0 = SFU_SCTP_SEND_BUFFER */
  uint32_t low_water;       /* on_writable_cb threshold (bytes); 0 = send_buffer / 4 */
} sfu_sctp_opts_t;

typedef struct sfu_sctp sfu_sctp_t;
typedef struct sfu_sctp_group sfu_sctp_group_t;

/* Outputs, on the owner thread. send_cb may run inside usrsctp (see above). */
typedef struct {
  void (*send_cb)(void *user, const uint8_t *buf, size_t len); /* one SCTP packet */
  void (*on_state_cb)(void *user, sfu_sctp_state_t st);          /* optional */
  /* A channel opened (open = 1: OPEN received and ACKed, or our OPEN ACKed) or closed
   * (open = 0: stream reset both ways, or the association ended). Optional. */
  void (*on_channel_cb)(void *user, const sfu_sctp_channel_t *ch, int open);
  /* A whole user message (PPID 51/53; 56/57 arrive with len 0). buf valid during the
   * call only. Optional. */
  void (*on_message_cb)(void *user, uint16_t stream, uint32_t ppid, const uint8_t *buf,
                        size_t len);
  void *user;
  /* (After `user`: positional initialisers stay valid.) Backpressure relief: after a
   * sfu_sctp_send returned SFU_EAGAIN, once the buffered amount (sfu_sctp_buffered_amount)
   * is at or below the low-water mark; once per block. `buffered` is that amount. The
   * callee may send again (not free the association). Optional. */
  void (*on_writable_cb)(void *user, size_t buffered);
} sfu_sctp_cbs_t;

/* ---- process-global (main thread) ---- */
/* Starts usrsctp without threads. Idempotent; 0 or SFU_ESTATE. */
int sfu_sctp_global_init(void);
/* After every group is freed; 0, or SFU_ESTATE if usrsctp still has sockets. */
int sfu_sctp_global_shutdown(void);
int sfu_sctp_global_ready(void);

/* ---- per loop (owner thread) ---- */
/* SFU_ESTATE-like failure (NULL) before sfu_sctp_global_init. */
sfu_sctp_group_t *sfu_sctp_group_new(void);
/* Every association of the group must be freed first. */
void sfu_sctp_group_free(sfu_sctp_group_t *g);
/* Advances usrsctp's timers (process-wide) to now_us and drains this group's queued
 * packets and pending receptions. */
void sfu_sctp_group_handle_timeout(sfu_sctp_group_t *g, uint64_t now_us);
/* When the group wants its next tick while it has associations (see "Ticks" above:
 * SFU_SCTP_TICK_US or SFU_SCTP_IDLE_TICK_US after the last one, sooner when a packet
 * in or out makes an association busy), else UINT64_MAX. O(1). */
uint64_t sfu_sctp_group_next_deadline(const sfu_sctp_group_t *g);
size_t sfu_sctp_group_count(const sfu_sctp_group_t *g);

/* ---- one association (owner thread) ---- */
/* Server: listens for the peer's INIT. Client: sends INIT at once. NULL on failure. */
sfu_sctp_t *sfu_sctp_new(sfu_sctp_group_t *g, const sfu_sctp_opts_t *opts,
                         const sfu_sctp_cbs_t *cbs, uint64_t now_us);
/* Aborts the association (no further callback) and frees it. Never from a callback. */
void sfu_sctp_free(sfu_sctp_t *a);
/* One SCTP packet (a DTLS application-data record). 0, or SFU_EINVAL for empty input. */
int sfu_sctp_handle_input(sfu_sctp_t *a, uint64_t now_us, const uint8_t *buf, size_t len);

/* A message on `stream` with `ppid` (len 0 with PPID 51/53 is sent as 56/57 with one
 * zero byte, RFC 8831 §6.6). Ordered/reliability from the channel if open on that
 * stream (RFC 8831 §6.4; a PARTIAL_RELIABLE_REXMIT channel with reliability 0 is sent
 * once and never retransmitted, see sctp.c raw_send). SFU_ESTATE before established,
 * SFU_ETOOBIG over the peer's max message size (or larger than the whole send buffer),
 * SFU_EAGAIN when usrsctp's send buffer is full (backpressure: nothing was queued; drop
 * or keep it yourself and wait for on_writable_cb, never retry in a loop), SFU_EINVAL
 * for a bad stream.
 *
 * Send buffer and backpressure: usrsctp holds each accepted message until the peer
 * acknowledges it (or PR-SCTP abandons it), at most opts.send_buffer bytes per
 * association; a peer that stops reading (or whose path is lost) fills it and every
 * further send is SFU_EAGAIN at once, so a stuck receiver costs its own sender nothing
 * but memory bounded by send_buffer and never delays other associations. */
int sfu_sctp_send(sfu_sctp_t *a, uint64_t now_us, uint16_t stream, uint32_t ppid,
                  const uint8_t *buf, size_t len);
/* Client side of DCEP (RFC 8832 §6): sends DATA_CHANNEL_OPEN on `stream` and enters the
 * channel (open once the ACK arrives). For sfu-load and tests. */
int sfu_sctp_open_channel(sfu_sctp_t *a, uint64_t now_us, uint16_t stream, const char *label,
                          const char *protocol, uint8_t channel_type, uint32_t reliability);
/* RFC 8831 §6.7: closes a channel by resetting our outgoing stream; the channel is gone
 * once the peer resets its side too. SFU_ENOENT if no channel on that stream. */
int sfu_sctp_close_channel(sfu_sctp_t *a, uint64_t now_us, uint16_t stream);

/* Bytes usrsctp holds for this association now: messages queued and sent but not yet
 * acknowledged, with usrsctp's per-chunk overhead (SCTP_GET_SNDBUF_USE; the figure its
 * EAGAIN check compares with send_buffer). The analogue of RTCDataChannel.bufferedAmount
 * for the whole association. 0 before established. One getsockopt (a lock and a lookup),
 * no allocation. */
size_t sfu_sctp_buffered_amount(const sfu_sctp_t *a);
/* Changes the on_writable_cb threshold (bytes, < send_buffer). */
void sfu_sctp_set_low_water(sfu_sctp_t *a, size_t bytes);
/* Whether a send was refused with SFU_EAGAIN and on_writable_cb has not fired since. */
int sfu_sctp_blocked(const sfu_sctp_t *a);

sfu_sctp_state_t sfu_sctp_state(const sfu_sctp_t *a);
const char *sfu_sctp_state_name(sfu_sctp_state_t st); /* "none" "connecting" ... */
const sfu_sctp_stats_t *sfu_sctp_stats(const sfu_sctp_t *a);
size_t sfu_sctp_open_channels(const sfu_sctp_t *a); /* open now */
const sfu_sctp_channel_t *sfu_sctp_channel(const sfu_sctp_t *a, uint16_t stream);

/* ---- checksums (sctp.c "Checksums"), exposed for tests ---- */
/* RFC 4960 Appendix B CRC32c of buf, in the byte order the SCTP common header stores it
 * (as usrsctp_crc32c returns it); SSE 4.2 when the CPU has it. */
uint32_t sfu_sctp_crc32c(const uint8_t *buf, size_t len);
/* Writes the checksum of an SCTP packet (bytes 8..11 of its common header). */
void sfu_sctp_set_checksum(uint8_t *pkt, size_t len);

/* ---- DCEP (RFC 8832 §5) codec, exposed for tests and fuzzing ---- */
typedef struct {
  uint8_t channel_type;
  uint16_t priority;
  uint32_t reliability;
  const uint8_t *label, *protocol; /* views into the input */
  uint16_t label_len, protocol_len;
} sfu_dcep_open_t;

#define SFU_DCEP_OPEN 0x03
#define SFU_DCEP_ACK 0x02
/* 0, or SFU_EPARSE (short, wrong type, lengths past the end, unknown channel type). */
int sfu_dcep_parse_open(const uint8_t *buf, size_t len, sfu_dcep_open_t *out);
/* Bytes written, or SFU_ETOOBIG if cap is too small. */
int sfu_dcep_build_open(uint8_t *buf, size_t cap, const sfu_dcep_open_t *o);

#endif
