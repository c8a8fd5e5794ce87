/* SPDX-License-Identifier: MIT */
/* Tests of auth.c: argon2 round trips, python3-argon2 as an oracle both ways, the
 * dummy verification, and the user-name and e-mail syntax checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "err.h"
#include "tap.h"

#define PW "s3cret pass \xc3\xbc"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
python(void)
{
	const char *p = getenv("PYTHON");

	return p != NULL && *p != '\0' ? p : "/usr/bin/python3";
}

/* Runs a python snippet (the password is in $PW, an argument in $ARG) and reads the
 * first line it prints into out. Returns the exit status, -1 on failure to run. */
static int
run_python(const char *code, const char *arg, char *out, size_t outlen)
{
	char cmd[1024];
	FILE *f;
	int n;

	setenv("PW", PW, 1);
	setenv("ARG", arg != NULL ? arg : "", 1);
	setenv("PYCODE", code, 1);
	n = snprintf(cmd, sizeof(cmd), "%s -c \"$PYCODE\"", python());
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	out[0] = '\0';
	if (fgets(out, (int)outlen, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	return pclose(f);
}

static void
test_round_trip(void)
{
	char h[AUTH_PHC_MAX], h2[AUTH_PHC_MAX];

	is_int(auth_hash(PW, h, sizeof(h)), 0, "hash");
	ok(strncmp(h, "$argon2id$v=19$m=65536,t=3,p=4$", 31) == 0, "PHC prefix with our params: %s",
	   h);
	is_int(auth_verify(h, PW), 0, "verify right password");
	is_int(auth_verify(h, "s3cret pass"), ERR_AUTH, "wrong password is ERR_AUTH");
	is_int(auth_verify(h, ""), ERR_AUTH, "empty password is ERR_AUTH");
	is_int(auth_hash(PW, h2, sizeof(h2)), 0, "hash again");
	ok(strcmp(h, h2) != 0, "fresh salt each time");
	is_int(auth_hash(PW, h2, 20), ERR_TOOBIG, "small output buffer refused");
}

static void
test_garbage(void)
{
	is_int(auth_verify("", PW), ERR_INVAL, "empty hash");
	is_int(auth_verify("not a hash", PW), ERR_INVAL, "garbage hash");
	is_int(auth_verify("$2y$10$abcdefghijklmnopqrstuv", PW), ERR_INVAL, "bcrypt is not ours");
	is_int(auth_verify("$argon2id$v=19$m=65536,t=3,p=4$!!!$???", PW), ERR_INVAL,
	       "bad base64 in an argon2 string");
	is_int(auth_verify("$argon2id$v=19$m=65536,t=3,p=4", PW), ERR_INVAL, "truncated");
}

static void
test_python_verifies_c(void)
{
	char h[AUTH_PHC_MAX], out[512];
	int rc;

	is_int(auth_hash(PW, h, sizeof(h)), 0, "hash for python");
	rc = run_python("import argon2,os\n"
			"ph=argon2.PasswordHasher(time_cost=3,memory_cost=65536,parallelism=4,"
			"hash_len=32,salt_len=16)\n"
			"print(ph.verify(os.environ['ARG'],os.environ['PW']),"
			"ph.check_needs_rehash(os.environ['ARG']))",
			h, out, sizeof(out));
	is_int(rc, 0, "python ran");
	is_str(out, "True False", "python verifies the C hash; our params are its params");
	rc = run_python("import argon2,os\n"
			"try:\n argon2.PasswordHasher().verify(os.environ['ARG'],'wrong')\n"
			"except argon2.exceptions.VerifyMismatchError:\n print('mismatch')",
			h, out, sizeof(out));
	is_str(out, "mismatch", "python rejects a wrong password against the C hash");
}

static void
test_c_verifies_python(void)
{
	char out[512];
	int rc;

	rc = run_python("import argon2,os\nprint(argon2.PasswordHasher().hash(os.environ['PW']))",
			NULL, out, sizeof(out));
	is_int(rc, 0, "python hash with 21.1 defaults");
	ok(strncmp(out, "$argon2id$", 10) == 0, "python default hash: %s", out);
	is_int(auth_verify(out, PW), 0, "C verifies python's default-parameter hash");
	is_int(auth_verify(out, "nope"), ERR_AUTH, "and rejects a wrong password");

	rc = run_python("import argon2,os\nprint(argon2.PasswordHasher(time_cost=3,"
			"memory_cost=65536,parallelism=4,hash_len=32,salt_len=16)"
			".hash(os.environ['PW']))",
			NULL, out, sizeof(out));
	is_int(rc, 0, "python hash with our params");
	ok(strncmp(out, "$argon2id$v=19$m=65536,t=3,p=4$", 31) == 0, "python our-params hash: %s",
	   out);
	is_int(auth_verify(out, PW), 0, "C verifies python's hash with our params");

	rc = run_python("import argon2,os\nprint(argon2.PasswordHasher(type=argon2.Type.I,"
			"memory_cost=8192).hash(os.environ['PW']))",
			NULL, out, sizeof(out));
	ok(rc == 0 && strncmp(out, "$argon2i$", 9) == 0, "python argon2i hash: %s", out);
	is_int(auth_verify(out, PW), 0, "C verifies argon2i (type from the prefix)");
	rc = run_python("import argon2,os\nprint(argon2.PasswordHasher(type=argon2.Type.D,"
			"memory_cost=8192).hash(os.environ['PW']))",
			NULL, out, sizeof(out));
	ok(rc == 0 && strncmp(out, "$argon2d$", 9) == 0, "python argon2d hash: %s", out);
	is_int(auth_verify(out, PW), 0, "C verifies argon2d");
	is_int(auth_verify(out, "x"), ERR_AUTH, "argon2d wrong password");
}

static void
test_dummy(void)
{
	char h[AUTH_PHC_MAX];
	double t0, real = 1e9, dummy = 1e9;
	int i;

	is_int(auth_hash(PW, h, sizeof(h)), 0, "hash for timing");
	/* Best of three of each: the minimum is the cost, the rest is scheduling noise. */
	for (i = 0; i < 3; i++) {
		double d;

		t0 = now_s();
		(void)auth_verify(h, "wrong password");
		d = now_s() - t0;
		real = d < real ? d : real;
		t0 = now_s();
		is_int(auth_verify_dummy("wrong password"), ERR_AUTH, "dummy fails");
		d = now_s() - t0;
		dummy = d < dummy ? d : dummy;
	}
	is_int(auth_verify_dummy("ddns-service dummy password"), ERR_AUTH,
	       "dummy fails even for the password it was made from");
	diag("verify %.0f ms, dummy %.0f ms", real * 1e3, dummy * 1e3);
	ok(dummy > real * 0.6 && dummy < real * 1.6, "dummy costs about what a real verify costs");
}

/* Which stored hashes are verified inline: cost m x t at most AUTH_INLINE_COST. */
static void
test_cheap(void)
{
	char phc[AUTH_PHC_MAX];

	ok(auth_hash("pw", phc, sizeof(phc)) == 0 && !auth_is_cheap(phc),
	   "our own hashes (64 MiB x 3) go to the pool");
	ok(auth_is_cheap("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
	   "m=8,t=1 is verified inline");
	ok(auth_is_cheap("$argon2i$v=19$m=1024,t=4,p=1$c2FsdHNhbHQ$aGFzaA"), "1024 x 4: inline");
	ok(!auth_is_cheap("$argon2i$v=19$m=1025,t=4,p=1$c2FsdHNhbHQ$aGFzaA"), "1025 x 4: pool");
	ok(!auth_is_cheap("$argon2id$v=19$t=1,p=1$c2FsdHNhbHQ$aGFzaA"), "no m=: not cheap");
	ok(!auth_is_cheap("$argon2id$v=19$m=99999999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
	   "an absurd m=: not cheap");
	ok(!auth_is_cheap("$2b$04$abcdefghijklmnopqrstuu") && !auth_is_cheap(""),
	   "not argon2: not cheap");
}

static void
test_names(void)
{
	char longname[AUTH_USERNAME_MAX + 2];

	ok(auth_username_is_valid("alice"), "alice");
	ok(auth_username_is_valid("a.b_c-9"), "a.b_c-9");
	ok(!auth_username_is_valid(""), "empty");
	ok(!auth_username_is_valid("Alice"), "upper case");
	ok(!auth_username_is_valid("al ice"), "space");
	ok(!auth_username_is_valid("al@ice"), "@");
	ok(!auth_username_is_valid("b\xc3\xbc"), "non-ASCII");
	memset(longname, 'a', sizeof(longname));
	longname[AUTH_USERNAME_MAX] = '\0';
	ok(auth_username_is_valid(longname), "64 characters");
	longname[AUTH_USERNAME_MAX] = 'a';
	longname[AUTH_USERNAME_MAX + 1] = '\0';
	ok(!auth_username_is_valid(longname), "65 characters");
}

int
main(void)
{
	auth_init(0);
	test_cheap();
	test_names();
	test_garbage();
	test_round_trip();
	test_python_verifies_c();
	test_c_verifies_python();
	test_dummy();
	return tap_done();
}
