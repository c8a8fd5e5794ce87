/* SPDX-License-Identifier: MIT */
/* The Argon2 pool: a bounded FIFO of jobs and the threads that run them. */
#include "authpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define AUTHPOOL_MAX_THREADS 64

struct authpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct config *boot;
	struct authpool_job *head, *tail;
	size_t queued;
	bool stopping;
	bool full; /* logged once per episode */
	int nthreads;
	pthread_t threads[AUTHPOOL_MAX_THREADS];
};

/* The next job, waiting for one; NULL when the pool stops. */
static struct authpool_job *
next_job(struct authpool *p)
{
	struct authpool_job *job;

	pthread_mutex_lock(&p->mu);
	while (p->head == NULL && !p->stopping)
		pthread_cond_wait(&p->cv, &p->mu);
	job = p->head;
	if (job != NULL) {
		p->head = job->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued--;
		if (p->full && p->queued < AUTHPOOL_QUEUE_MAX / 2) {
			p->full = false;
			log_info("the Argon2 queue has room again");
		}
	}
	pthread_mutex_unlock(&p->mu);
	return job;
}

static void *
pool_main(void *arg)
{
	struct authpool *p = arg;
	struct authpool_job *job;
	struct db *db = NULL;

	while ((job = next_job(p)) != NULL) {
		job->next = NULL;
		/* Opened on first use; a failed open is tried again with the next job. */
		if (db == NULL && db_open(p->boot, &db) != 0) {
			log_error("Argon2 pool: cannot open the database");
			db = NULL;
		}
		job->run(job, db);
	}
	db_close(db);
	return NULL;
}

static int
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

int
authpool_new(const struct config *boot, int threads, struct authpool **out)
{
	struct authpool *p = calloc(1, sizeof(*p));
	pthread_attr_t attr;

	*out = NULL;
	if (p == NULL)
		return ERR_NOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->boot = boot;
	if (threads <= 0)
		threads = default_threads();
	if (threads > AUTHPOOL_MAX_THREADS)
		threads = AUTHPOOL_MAX_THREADS;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, AUTHPOOL_STACK_SIZE);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], &attr, pool_main, p) != 0)
			break;
		p->nthreads++;
	}
	pthread_attr_destroy(&attr);
	if (p->nthreads == 0) {
		authpool_free(p);
		return ERR_NOMEM;
	}
	*out = p;
	return 0;
}

int
authpool_submit(struct authpool *p, struct authpool_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (p->stopping || p->queued >= AUTHPOOL_QUEUE_MAX) {
		if (!p->stopping && !p->full)
			log_warnx("%d credential checks wait for Argon2; answering 911 until the "
				  "queue has room",
				  AUTHPOOL_QUEUE_MAX);
		p->full = !p->stopping;
		rc = ERR_BUSY;
	} else {
		job->next = NULL;
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->queued++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

size_t
authpool_cancel_all(struct authpool *p)
{
	struct authpool_job *job;
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	job = p->head;
	p->head = p->tail = NULL;
	p->queued = 0;
	pthread_mutex_unlock(&p->mu);
	while (job != NULL) {
		struct authpool_job *next = job->next;

		job->next = NULL;
		job->cancel(job);
		job = next;
		n++;
	}
	return n;
}

void
authpool_free(struct authpool *p)
{
	if (p == NULL)
		return;
	(void)authpool_cancel_all(p);
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
