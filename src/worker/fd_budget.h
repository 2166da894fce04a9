/* How many ICE-TCP connections the worker can hold without running out of descriptors.
 *
 * Every accepted connection is a descriptor, and a client decides how many it opens. If
 * they took the last ones, nothing else could open one: nanomsg could not accept the
 * control plane's connection (its thread then spins on EMFILE), the loops could not
 * accept anyone. So the worker raises its soft RLIMIT_NOFILE to the hard limit at start
 * (the soft limit is often 1,024 while the hard one is far higher), keeps a reserve for
 * everything that is not an ICE-TCP connection, and gives each loop an equal share of
 * the rest, at most SFU_TCP_MAX_CONNS; a loop refuses connections beyond its share at
 * accept (tcp_io.h). docs/operations.md says what to configure (systemd LimitNOFILE).
 *
 * The reserve, measured: a worker with 2 loops and no client holds 32 descriptors
 * (stdio, nanomsg's sockets, eventfds and poller, and per loop an epoll, eventfds, the
 * UDP socket and the TCP listener). The fixed part leaves room for ~60 control-plane
 * connections on top (REQ clients, PUB subscribers); the per-loop part for its handles. */
#ifndef SFU_WORKER_FD_BUDGET_H
#define SFU_WORKER_FD_BUDGET_H

#include <stdint.h>

#define SFU_FD_RESERVE_FIXED 96
#define SFU_FD_RESERVE_PER_LOOP 16

/* Raises the soft RLIMIT_NOFILE to the hard limit (if it can) and returns the soft limit
 * now in force (RLIM_INFINITY reported as UINT64_MAX). */
uint64_t sfu_fd_limit_raise(void);
/* Each loop's ICE-TCP connection budget for a descriptor limit of `nofile` shared by
 * `loops` loops: (nofile - reserve) / loops, at most SFU_TCP_MAX_CONNS; 0 when the limit
 * does not even cover the reserve (the loops then accept no TCP connection at all). */
unsigned sfu_fd_tcp_budget(uint64_t nofile, int loops);

#endif
