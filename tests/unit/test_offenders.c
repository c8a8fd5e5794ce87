/* SPDX-License-Identifier: MIT */
/* Tests of the per-address offence counter: the first offence is reported, later ones
 * are held back for a report an interval later, and quiet addresses are forgotten. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "offenders.h"
#include "tap.h"

static struct addr
A(const char *s) {
	struct addr a;

	if (addr_parse(s, &a) != 0)
		abort();
	return a;
}

struct seen {
	int calls;
	unsigned long last;
	struct addr key;
};

static void
record(void *arg, const struct addr *key, unsigned long n)
{
	struct seen *s = arg;

	s->calls++;
	s->last = n;
	s->key = *key;
}

int
main(void)
{
	struct offenders *o = NULL;
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2"), all;
	struct seen s = {0};

	memset(&all, 0, sizeof(all));
	is_int(offenders_new(0, &o), ERR_INVAL, "an interval is needed");
	is_int(offenders_new(1000, &o), 0, "new");
	is_int((int)offenders_note(o, &a, 3, 0), 3, "a first offence is reported at once");
	is_int((int)offenders_note(o, &a, 2, 10), 0, "the next ones are held back");
	is_int((int)offenders_note(o, &a, 1, 500), 0, "still within the interval");
	is_int((int)offenders_note(o, &b, 1, 500), 1, "another address has its own count");
	is_int((int)offenders_note(o, &all, 1, 500), 1, "a zeroed key is one more address");
	is_int((int)offenders_note(o, &a, 1, 1000), 4, "an interval later: the held ones too");
	is_int((int)offenders_note(o, &a, 5, 1200), 0, "held back again");
	offenders_flush(o, 1500, record, &s);
	is_int(s.calls, 0, "flush reports nothing before the interval is over");
	offenders_flush(o, 2000, record, &s);
	ok(s.calls == 1 && s.last == 5 && addr_equal(&s.key, &a),
	   "flush reports what was held back once the interval is over");
	is_int((int)offenders_count(o), 1, "addresses quiet for an interval are forgotten");
	offenders_flush(o, 3000, record, &s);
	is_int((int)offenders_count(o), 0, "and then the last one");
	is_int((int)offenders_note(o, &a, 1, 3000), 1, "a forgotten address starts afresh");
	offenders_free(o);
	offenders_free(NULL);
	return tap_done();
}
