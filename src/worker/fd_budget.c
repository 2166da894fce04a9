/* Descriptor budget of ICE-TCP connections (see fd_budget.h). */
#include "worker/fd_budget.h"

#include <sys/resource.h>

#include "sfu/log.h"
#include "worker/tcp_io.h"

uint64_t sfu_fd_limit_raise(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024; /* the usual default */
  if (rl.rlim_cur != rl.rlim_max) {
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = was;
  }
  return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

unsigned sfu_fd_tcp_budget(uint64_t nofile, int loops) {
  if (loops < 1) loops = 1;
  uint64_t reserve = SFU_FD_RESERVE_FIXED + (uint64_t)SFU_FD_RESERVE_PER_LOOP * (uint64_t)loops;
  if (nofile <= reserve) return 0;
  uint64_t share = (nofile - reserve) / (uint64_t)loops;
  return share > SFU_TCP_MAX_CONNS ? SFU_TCP_MAX_CONNS : (unsigned)share;
}
