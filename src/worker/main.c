/* sfu-worker: parse the flags, run the worker until SIGINT/SIGTERM.
 * Exit status: 0 after a clean stop (or --help/--version), 1 if start-up failed (e.g.
 * an address in use), 2 on a bad flag. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "sfu/hmap.h"
#include "sfu/ids.h"
#include "sfu/log.h"
#include "sfu/srtp.h"
#include "worker/options.h"
#include "worker/worker.h"

int main(int argc, char **argv) {
  sfu_worker_opts_t opts;
  int rc = sfu_worker_opts_parse(&opts, argc, argv, stdout, stderr);
  if (rc > 0) return 0;
  if (rc < 0) return 2;
  sfu_log_set_level((sfu_log_level_t)opts.log_level);
  sfu_srtp_set_backend((sfu_srtp_backend_t)opts.srtp_backend); /* before any loop starts */
  /* A peer that closes a TCP connection must not kill the process on the next write. */
  signal(SIGPIPE, SIG_IGN);
  uint64_t seed = 0;
  if (sfu_random_bytes(&seed, sizeof seed) == 0) sfu_hash_seed(seed);
  return sfu_worker_run(&opts) == 0 ? 0 : 1;
}
