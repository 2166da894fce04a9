/* The worker process: the control thread (nanomsg REP/PUB, signals, placement,
 * routing, events) and its media loops. See docs/architecture.md. */
#ifndef SFU_WORKER_WORKER_H
#define SFU_WORKER_WORKER_H

#include "worker/options.h"

/* Runs until SIGINT/SIGTERM, then stops every loop, joins its thread, closes the sockets
 * and frees everything. Returns 0 after a clean stop, or a negative SFU_E* code if
 * start-up failed (bad address, port in use, ...). Call from the main thread. */
int sfu_worker_run(const sfu_worker_opts_t *opts);

#endif
