/* One meeting's data-message relay (issue 10): rate limit, order, fan-out, the cache of
 * messages with a lifetime and its replay, and per-receiver backpressure. Pure: no I/O,
 * no clock (now_us is a parameter; the envelope's wall-clock timestampMs is given by the
 * caller), sends through a callback. Wire format and rules: docs/data-messages.md.
 *
 *   publish ─ bucket (data_bucket.h: Throttled) ─ seq = ++meeting seq ─ envelope written
 *   once (data_msg.h) ─ cache if lifetimeMs > 0 (data_cache.h) ─ for every other peer
 *   with an open channel: send_cb, or its queue if it has one / send_cb says SFU_EAGAIN
 *
 * Peers. One sfu_data_peer_t per attendee for as long as the attendee exists (not per
 * connection): it keeps the attendee's "delivered up to" mark, the highest seq its
 * association accepted, across reconnects. A peer is "open" between peer_open (its data
 * channel is usable; the owner passes what send_cb needs) and peer_close. On open it
 * first gets the cached messages above its mark, in seq order, then the live ones: a late
 * joiner gets what it never had, a reconnecting attendee does not get again what it got.
 *
 * Backpressure. A receiver whose association refuses (SFU_EAGAIN: usrsctp's send buffer
 * is full) gets a queue, bounded by bytes, count and age (SFU_DATA_QUEUE_*); beyond the
 * bound its oldest queued message is dropped for it alone and counted. The queue is
 * retried every SFU_DATA_RETRY_US (handle_timeout) and whenever the owner says the
 * association has room (peer_writable). Never a retry loop: one refused send stops the
 * drain until the next occasion. A peer with something to send that has made no progress
 * for SFU_DATA_STUCK_US is reported once through on_stuck_cb (the owner drops its
 * transport, AttendeeDropped). Other errors from send_cb (message over the receiver's
 * max-message-size, channel gone) drop that message for that receiver and count it.
 *
 * Cost: publish allocates one message (the envelope) and does one send_cb per receiver;
 * a queued delivery takes a reference, and a queue's pointer ring grows (doubling) to
 * its high-water mark only. Nothing is allocated per delivery.
 *
 * Ownership: the meeting's owner (src/session/rtc_data.c) creates and frees the relay
 * and its peers; loop thread only. Callbacks run inside relay calls and must not free
 * the relay; on_stuck_cb may close that peer (peer_close), nothing else. */
#ifndef SFU_DATA_RELAY_H
#define SFU_DATA_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/data_envelope.h"
#include "sfu/data_msg.h"

#define SFU_DATA_QUEUE_BYTES (256u * 1024)  /* per receiver: bytes queued, at most */
#define SFU_DATA_QUEUE_MSGS 1024u           /* per receiver: messages queued, at most */
#define SFU_DATA_QUEUE_AGE_US 1000000ull    /* a queued message older than this is dropped */
#define SFU_DATA_STUCK_US 10000000ull       /* backlogged without progress this long: stuck */
#define SFU_DATA_RETRY_US 10000ull          /* backlogged receivers are retried this often */

enum { SFU_DATA_KIND_RELAYED = 0, SFU_DATA_KIND_WORKER = 1 }; /* sfu_data_msg_t.kind */

typedef struct sfu_data_relay sfu_data_relay_t;
typedef struct sfu_data_peer sfu_data_peer_t;

typedef struct {
  /* One message to the receiver's data channel (peer_user from peer_open): 0 accepted,
   * SFU_EAGAIN backpressure (kept and retried), any other negative: dropped for it. */
  int (*send_cb)(void *user, void *peer_user, const uint8_t *buf, size_t len);
  /* A receiver stuck past the limit; once per peer_open. May call peer_close(p). */
  void (*on_stuck_cb)(void *user, sfu_data_peer_t *p, void *peer_user);
  /* Optional: a queued message was dropped for this receiver (the worker's own deltas
   * then need a complete document again, rtc_mixer.c). */
  void (*on_dropped_cb)(void *user, void *peer_user, const sfu_data_msg_t *m);
  void *user;
} sfu_data_relay_cbs_t;

/* Zero fields take the defaults above (rate: data_bucket.h). For tests. */
typedef struct {
  uint32_t queue_bytes, queue_msgs;
  uint64_t queue_age_us, stuck_us, retry_us;
} sfu_data_relay_cfg_t;

/* Meeting figures, cumulative unless said. */
typedef struct {
  uint64_t messages_in;   /* offered: from attendees and the control plane, refused included */
  uint64_t accepted;      /* relayed (given a seq) */
  uint64_t delivered;     /* relayed messages accepted by receivers' associations */
  uint64_t replayed;      /* of which from the cache, on a peer's open */
  uint64_t refused[SFU_DATA_N_CODES]; /* by code (Throttled included); [0] unused */
  uint64_t dropped;       /* deliveries dropped: queue bounds, refused by the association, flushed */
  uint64_t cached_total;  /* messages that entered the cache */
  uint64_t cache_evicted, cache_expired;
  uint32_t cached;        /* in the cache now */
  uint64_t worker_delivered; /* the worker's own messages (sfu:audio) accepted */
} sfu_data_relay_stats_t;

typedef struct {
  uint64_t sent;          /* its messages the relay accepted */
  uint64_t refused;       /* its messages refused (any code) */
  uint64_t received;      /* relayed messages delivered to it (replays included) */
  uint64_t replayed;      /* of which from the cache */
  uint64_t worker_received; /* the worker's own messages delivered to it */
  uint64_t dropped;       /* dropped for it: backpressure, too big for it, flushed on close */
  uint64_t stuck;         /* times reported stuck */
  uint64_t refusals_lost; /* refusals to it its association did not take (the owner's count) */
  uint32_t queued, queued_bytes; /* its queue now */
  uint64_t mark;          /* delivered up to (seq) */
  int open;
} sfu_data_peer_stats_t;

sfu_data_relay_t *sfu_data_relay_new(const sfu_data_relay_cbs_t *cbs, const sfu_data_relay_cfg_t *cfg);
/* Frees the relay, its cache, and every peer still in it. */
void sfu_data_relay_free(sfu_data_relay_t *r);

sfu_data_peer_t *sfu_data_relay_peer_new(sfu_data_relay_t *r); /* NULL on ENOMEM */
void sfu_data_relay_peer_free(sfu_data_relay_t *r, sfu_data_peer_t *p); /* closes it first */
/* Its channel is usable: replay, then live messages. Re-opening an open peer just
 * changes peer_user. */
void sfu_data_relay_peer_open(sfu_data_relay_t *r, sfu_data_peer_t *p, void *peer_user, uint64_t now_us);
/* Its channel or transport went away: its queue is flushed (counted as dropped). */
void sfu_data_relay_peer_close(sfu_data_relay_t *r, sfu_data_peer_t *p);
/* The association has room again (low-water): drains its queue now. */
void sfu_data_relay_peer_writable(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us);

/* A valid message (sfu_data_parse / sfu_data_validate already passed) from `from` (NULL:
 * the control plane) with the envelope's fields. SFU_DATA_OK, SFU_DATA_THROTTLED, or a
 * negative SFU_ENOMEM. */
int sfu_data_relay_publish(sfu_data_relay_t *r, sfu_data_peer_t *from, uint64_t now_us,
                           const sfu_data_out_t *f);
/* Counts a message refused before the relay (validation): its code, per meeting and for
 * `from` (may be NULL). */
void sfu_data_relay_count_refused(sfu_data_relay_t *r, sfu_data_peer_t *from, sfu_data_code_t code);
/* One of the worker's own messages (sfu:audio) to one peer, through its queue rules.
 * *shared (initially NULL) keeps the bytes as one message between the calls for several
 * peers when one has to queue it; the caller unrefs it after the last call. 0 sent or
 * queued; SFU_ESTATE not open; other negative: dropped (counted). */
int sfu_data_relay_send_worker(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us,
                               const uint8_t *bytes, size_t len, sfu_data_msg_t **shared);

void sfu_data_relay_handle_timeout(sfu_data_relay_t *r, uint64_t now_us);
uint64_t sfu_data_relay_next_deadline(const sfu_data_relay_t *r); /* UINT64_MAX: none */

void sfu_data_relay_stats(const sfu_data_relay_t *r, sfu_data_relay_stats_t *out);
void sfu_data_peer_stats(const sfu_data_peer_t *p, sfu_data_peer_stats_t *out);
int sfu_data_peer_is_open(const sfu_data_peer_t *p);
/* The owner sends refusals itself (on the channel the message came in on, not through
 * the queue); one its association refused is counted here. */
void sfu_data_peer_count_refusal_lost(sfu_data_peer_t *p);

#endif
