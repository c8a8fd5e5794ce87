/* SPDX-License-Identifier: MIT */
/* Argon2 password hashing and verification (bounded concurrency), and the syntax of
 * user names and e-mail addresses. */
#include "auth.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "err.h"
#include "metrics.h"

/*
 * A verification holds AUTH_M_COST KiB and a core for a quarter second; letting every
 * HTTP worker run one at once would let a burst of bad logins exhaust memory. This
 * counting semaphore (the module's only mutable state, documented in auth.h as the
 * auth_init limit) queues the excess instead.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int limit; /* 0 until auth_init or the first use picks the number of cores */
	int active;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

/* A hash of a fixed password with our exact parameters; auth_verify_dummy verifies
 * against it so that an unknown user costs what a known one costs. */
static const char dummy_phc[] = "$argon2id$v=19$m=65536,t=3,p=4$ZGRucy1kdW1teS1zYWx0IQ$"
				"P8jaXpArjWFx2JUiFZMLvxaU1/DXDmiE9Fj9f4HqyV8";

static int
default_limit(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 && n < 1024 ? (int)n : 1;
}

void
auth_init(int max_concurrent)
{
	pthread_mutex_lock(&gate.mu);
	gate.limit = max_concurrent > 0 ? max_concurrent : default_limit();
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
}

static void
gate_enter(void)
{
	pthread_mutex_lock(&gate.mu);
	if (gate.limit == 0)
		gate.limit = default_limit();
	while (gate.active >= gate.limit)
		pthread_cond_wait(&gate.cv, &gate.mu);
	gate.active++;
	pthread_mutex_unlock(&gate.mu);
}

static void
gate_leave(void)
{
	pthread_mutex_lock(&gate.mu);
	gate.active--;
	pthread_cond_signal(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
}

int
auth_hash(const char *password, char *out, size_t outlen)
{
	unsigned char salt[AUTH_SALT_LEN];
	size_t pwlen = strnlen(password, AUTH_PASSWORD_MAX + 1);
	size_t need = argon2_encodedlen(AUTH_T_COST, AUTH_M_COST, AUTH_PARALLELISM, AUTH_SALT_LEN,
					AUTH_HASH_LEN, Argon2_id);
	int rc;

	if (pwlen > AUTH_PASSWORD_MAX || outlen < need)
		return ERR_TOOBIG;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return ERR_CRYPTO;
	gate_enter();
	rc = argon2id_hash_encoded(AUTH_T_COST, AUTH_M_COST, AUTH_PARALLELISM, password, pwlen,
				   salt, sizeof(salt), AUTH_HASH_LEN, out, outlen);
	gate_leave();
	explicit_bzero(salt, sizeof(salt));
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return ERR_NOMEM;
	return rc == ARGON2_OK ? 0 : ERR_CRYPTO;
}

/* The variant named by the PHC prefix; -1 when it is not an argon2 string. */
static int
phc_type(const char *phc)
{
	if (strncmp(phc, "$argon2id$", 10) == 0)
		return Argon2_id;
	if (strncmp(phc, "$argon2i$", 9) == 0)
		return Argon2_i;
	if (strncmp(phc, "$argon2d$", 9) == 0)
		return Argon2_d;
	return -1;
}

/* The decimal after `key` (e.g. "m=") in the parameter part of a PHC string; -1 when
 * absent or out of range. */
static long
phc_param(const char *params, const char *key)
{
	const char *p = strstr(params, key);
	long v = 0;

	if (p == NULL)
		return -1;
	p += strlen(key);
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 1L << 32)
			return -1;
	}
	return v;
}

bool
auth_is_cheap(const char *phc)
{
	const char *params;
	long m, t;

	if (phc_type(phc) < 0 || strnlen(phc, AUTH_PHC_MAX) >= AUTH_PHC_MAX)
		return false;
	/* $argon2id$v=19$m=65536,t=3,p=4$salt$hash: the parameters follow the 3rd '$'. */
	params = strchr(phc + 1, '$');
	params = params ? strchr(params + 1, '$') : NULL;
	if (params == NULL)
		return false;
	m = phc_param(params, "m=");
	t = phc_param(params, "t=");
	return m > 0 && t > 0 && m * t <= AUTH_INLINE_COST;
}

int
auth_verify(const char *phc, const char *password)
{
	size_t pwlen = strnlen(password, AUTH_PASSWORD_MAX + 1);
	int type = phc_type(phc);
	int rc;

	if (type < 0 || strnlen(phc, AUTH_PHC_MAX) >= AUTH_PHC_MAX)
		return ERR_INVAL;
	if (pwlen > AUTH_PASSWORD_MAX)
		return ERR_AUTH; /* no stored password can be that long */
	gate_enter();
	rc = argon2_verify(phc, password, pwlen, (argon2_type)type);
	gate_leave();
	metrics_count_auth(rc == ARGON2_OK ? METRICS_AUTH_OK : METRICS_AUTH_FAIL);
	switch (rc) {
	case ARGON2_OK: return 0;
	case ARGON2_VERIFY_MISMATCH: return ERR_AUTH;
	case ARGON2_MEMORY_ALLOCATION_ERROR: return ERR_NOMEM;
	default: return ERR_INVAL; /* decoding or parameter errors: the string is bad */
	}
}

int
auth_verify_dummy(const char *password)
{
	(void)auth_verify(dummy_phc, password);
	return ERR_AUTH;
}

bool
auth_username_is_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= AUTH_USERNAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return i > 0;
}
