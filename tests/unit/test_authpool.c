/* SPDX-License-Identifier: MIT */
/* The Argon2 pool: jobs run in order on the pool's threads with their own database
 * connection, the queue is bounded (the submitter is told, no job is lost), a full
 * queue drains, cancel answers what waits, free waits for what runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authpool.h"
#include "err.h"
#include "log.h"
#include "tap.h"

struct job {
	struct authpool_job aj; /* first: the pool hands this back */
	int id;
	atomic_int *order; /* where runs are counted */
	int ran_as;	   /* the order it ran in, or -1 cancelled */
	bool had_db;
	pthread_mutex_t *gate; /* held by the test: blocks the first job */
};

static void
job_run(struct authpool_job *aj, struct db *db)
{
	struct job *j = (struct job *)aj;

	if (j->gate) {
		pthread_mutex_lock(j->gate);
		pthread_mutex_unlock(j->gate);
	}
	j->had_db = db != NULL;
	j->ran_as = atomic_fetch_add(j->order, 1);
}

static void
job_cancel(struct authpool_job *aj)
{
	((struct job *)aj)->ran_as = -1;
}

static void
make_job(struct job *j, int id, atomic_int *order, pthread_mutex_t *gate)
{
	memset(j, 0, sizeof(*j));
	j->aj.run = job_run;
	j->aj.cancel = job_cancel;
	j->id = id;
	j->order = order;
	j->ran_as = -2;
	j->gate = gate;
}

int
main(void)
{
	static struct job jobs[AUTHPOOL_QUEUE_MAX + 2];
	char path[] = "/tmp/test_authpool_XXXXXX";
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct authpool *p = NULL;
	struct config cfg;
	atomic_int order = 0;
	int fd = mkstemp(path), in_order = 0, busy = 0;

	log_set_level(LOG_LVL_ERROR);
	memset(&cfg, 0, sizeof(cfg));
	cfg.database.backend = DB_BACKEND_SQLITE;
	cfg.database.path = path;
	ok(fd >= 0 && authpool_new(&cfg, 1, &p) == 0, "a pool of one thread");
	pthread_mutex_lock(&gate); /* the first job blocks: the others queue behind it */
	make_job(&jobs[0], 0, &order, &gate);
	is_int(authpool_submit(p, &jobs[0].aj), 0, "the first job");
	usleep(100 * 1000);
	for (int i = 1; i <= AUTHPOOL_QUEUE_MAX + 1; i++) {
		make_job(&jobs[i], i, &order, NULL);
		busy += authpool_submit(p, &jobs[i].aj) == ERR_BUSY;
	}
	is_int(busy, 1, "the queue holds AUTHPOOL_QUEUE_MAX; one more is refused");
	pthread_mutex_unlock(&gate);
	while (atomic_load(&order) < AUTHPOOL_QUEUE_MAX + 1)
		usleep(10 * 1000);
	for (int i = 0; i <= AUTHPOOL_QUEUE_MAX; i++)
		in_order += jobs[i].ran_as == i && jobs[i].had_db;
	is_int(in_order, AUTHPOOL_QUEUE_MAX + 1, "every queued job ran, in order, with a db");
	is_int(jobs[AUTHPOOL_QUEUE_MAX + 1].ran_as, -2, "the refused one never ran");

	pthread_mutex_lock(&gate);
	make_job(&jobs[0], 0, &order, &gate);
	authpool_submit(p, &jobs[0].aj);
	usleep(100 * 1000);
	make_job(&jobs[1], 1, &order, NULL);
	make_job(&jobs[2], 2, &order, NULL);
	authpool_submit(p, &jobs[1].aj);
	authpool_submit(p, &jobs[2].aj);
	is_int(authpool_cancel_all(p), 2, "cancel answers the two waiting");
	ok(jobs[1].ran_as == -1 && jobs[2].ran_as == -1, "through their cancel");
	pthread_mutex_unlock(&gate);
	authpool_free(p);
	ok(jobs[0].ran_as >= 0, "free waited for the running job");
	authpool_free(NULL);
	unlink(path);
	return tap_done();
}
