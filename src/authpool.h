/* SPDX-License-Identifier: MIT */
/* The Argon2 pool: credential verifications (and what the request does next) off the
 * HTTP threads, on a few threads of their own — as many as auth_init lets verify at
 * once — so that a flood of wrong passwords queues here and cannot occupy the threads
 * that cache hits and other clients need. */
#ifndef AUTHPOOL_H
#define AUTHPOOL_H

#include <stddef.h>

#include "config.h"
#include "db.h"

/* AUTHPOOL_QUEUE_MAX: jobs waiting. At two cores and ~0.3 s per verification 128 jobs
 * are ~20 s of work, longer than a client waits; a job beyond it is refused at once
 * (the request answers 911, one log line when the queue fills). Memory: a queued job
 * is a suspended request (a few KiB); the verifications that run hold 64 MiB each, and
 * only AUTHPOOL threads of them run at once. */
#define AUTHPOOL_QUEUE_MAX  128
#define AUTHPOOL_STACK_SIZE (256 * 1024)

/* One job, embedded in the caller's own object (no allocation per job). `run` gets
 * the pool thread's database connection (NULL when it cannot be opened); `cancel` is
 * called instead when the pool sheds its queue (the daemon's stop after its drain
 * deadline). Exactly one of them is called, once, on a pool thread or (cancel) on the
 * thread calling authpool_cancel_all. */
struct authpool_job {
	void (*run)(struct authpool_job *job, struct db *db);
	void (*cancel)(struct authpool_job *job);
	struct authpool_job *next; /* private */
};

struct authpool;

/* authpool_new: `threads` threads (0: the number of cores, as auth_init's default),
 * whose database connections are opened from `boot` (borrowed; must outlive the pool).
 * Returns 0 or ERR_NOMEM. */
int authpool_new(const struct config *boot, int threads, struct authpool **out);

/* authpool_submit: queues `job` (borrowed until run or cancel is called). Any thread.
 * Returns 0, or ERR_BUSY when the queue is full or the pool is stopping: then neither
 * function is called and the caller answers itself. */
int authpool_submit(struct authpool *p, struct authpool_job *job);

/* authpool_cancel_all: calls `cancel` of every queued job (jobs that run finish).
 * Returns how many. Any thread. */
size_t authpool_cancel_all(struct authpool *p);

/* authpool_free: cancels what is queued, waits for the running jobs, ends the threads
 * and frees the pool. NULL ok. */
void authpool_free(struct authpool *p);

#endif
