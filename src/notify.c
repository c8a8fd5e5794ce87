/* SPDX-License-Identifier: MIT */
/* Change and expiry mails: template variables of the seed's tables, rendered and queued. */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "template.h"

struct notify {
	struct template *change; /* NULL when not configured */
	struct template *expiry;
	struct mail_queue *queue; /* NULL when email is disabled */
	bool owns_queue;	  /* false once a newer notifier took the queue over */
};

void
notify_format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "never");
}

void
notify_mail_settings(struct mail_settings *s, const struct config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->smtp_host = cfg->email.smtp_host;
	s->smtp_port = cfg->email.smtp_port;
	s->smtp_starttls = cfg->email.smtp_starttls;
	s->smtp_user = cfg->email.smtp_user;
	s->smtp_password = cfg->email.smtp_password;
	s->smtp_ca_file = cfg->email.smtp_ca_file;
	s->from_address = cfg->email.from_address;
}

static int
compile_optional(const char *path, struct template **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path)
		return 0;
	return template_compile_file(path, out, err, errlen);
}

int
notify_open(const struct config *cfg, const struct mail_settings *mail, struct notify **out,
	    char *err, size_t errlen)
{
	struct notify *n = calloc(1, sizeof(*n));
	struct mail_settings s;
	int rc;

	*out = NULL;
	if (!n)
		return ERR_NOMEM;
	rc = compile_optional(cfg->email.change_notification_template, &n->change, err, errlen);
	if (rc == 0)
		rc = compile_optional(cfg->email.expiry_notification_template, &n->expiry, err,
				      errlen);
	if (rc == 0 && cfg->email.enabled) {
		if (mail)
			s = *mail;
		else
			notify_mail_settings(&s, cfg);
		rc = mail_queue_start(&s, &n->queue);
		n->owns_queue = rc == 0;
		if (rc != 0)
			snprintf(err, errlen, "cannot start the mail queue: %s", err_str(rc));
	}
	if (rc != 0) {
		notify_close(n, 0);
		return rc;
	}
	*out = n;
	return 0;
}

void
notify_close(struct notify *n, int drain_ms)
{
	if (!n)
		return;
	if (n->owns_queue)
		mail_queue_stop(n->queue, drain_ms);
	template_free(n->change);
	template_free(n->expiry);
	free(n);
}

static bool
str_equal(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether two configurations send mail the same way (templates aside). */
static bool
email_equal(const struct config *a, const struct config *b)
{
	return a->email.enabled == b->email.enabled &&
	       str_equal(a->email.smtp_host, b->email.smtp_host) &&
	       a->email.smtp_port == b->email.smtp_port &&
	       a->email.smtp_starttls == b->email.smtp_starttls &&
	       str_equal(a->email.smtp_user, b->email.smtp_user) &&
	       str_equal(a->email.smtp_password, b->email.smtp_password) &&
	       str_equal(a->email.smtp_ca_file, b->email.smtp_ca_file) &&
	       str_equal(a->email.from_address, b->email.from_address);
}

int
notify_reopen(const struct config *cfg, struct notify *prev, const struct config *prev_cfg,
	      struct notify **out, char *err, size_t errlen)
{
	struct config tmp;
	struct notify *n;
	int rc;

	if (!prev || !prev_cfg || !prev->owns_queue || !email_equal(cfg, prev_cfg))
		return notify_open(cfg, NULL, out, err, errlen);
	/* Templates only: a copy of cfg with email off starts no queue. */
	tmp = *cfg;
	tmp.email.enabled = false;
	rc = notify_open(&tmp, NULL, &n, err, errlen);
	if (rc != 0)
		return rc;
	n->queue = prev->queue;
	n->owns_queue = true;
	prev->owns_queue = false;
	*out = n;
	return 0;
}

void
notify_abandon(struct notify *n, struct notify *prev)
{
	if (n && prev && n->owns_queue && n->queue == prev->queue) {
		prev->owns_queue = true;
		n->owns_queue = false;
	}
	notify_close(n, 0);
}

bool
notify_wants_change(const struct notify *n)
{
	return n && n->queue && n->change;
}

/* Sets the variables both tables share. */
static int
set_host_vars(struct template_vars *v, const struct db_host *h)
{
	int rc = template_vars_set_str(v, "hostname", h->hostname);

	if (rc == 0)
		rc = template_vars_set_str(v, "zone", h->zone);
	if (rc == 0)
		rc = template_vars_set_str(v, "fqdn", h->fqdn);
	if (rc == 0)
		rc = template_vars_set_int(v, "expiry_ttl", h->expiry_ttl);
	return rc;
}

/* A string variable, or none when the value is absent. */
static int
set_str_or_none(struct template_vars *v, const char *name, const char *value)
{
	if (!value || !*value)
		return template_vars_set_none(v, name);
	return template_vars_set_str(v, name, value);
}

static int
set_time(struct template_vars *v, const char *name, int64_t t)
{
	char buf[64];

	if (t <= 0)
		return template_vars_set_none(v, name);
	notify_format_time(t, buf, sizeof(buf));
	return template_vars_set_str(v, name, buf);
}

/* Renders `t` and queues the result; the template's errors are logged, not fatal. */
static int
render_and_queue(struct notify *n, const struct template *t, const struct template_vars *v,
		 const char *to, const char *what, const char *fqdn)
{
	char err[256] = "";
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = template_render(t, v, MAIL_RENDERED_MAX, &text, &len, err, sizeof(err));
	if (rc != 0) {
		log_error("%s mail for %s: %s", what, fqdn, err[0] ? err : err_str(rc));
		return rc;
	}
	rc = mail_queue_push_kind(
		n->queue, strcmp(what, "expiry") == 0 ? METRICS_MAIL_EXPIRY : METRICS_MAIL_CHANGE,
		to, text);
	if (rc == 0)
		log_debug("%s mail for %s queued to %s", what, fqdn, to);
	free(text);
	return rc;
}

int
notify_change(struct notify *n, const char *to, const struct db_host *h, const char *ipv4,
	      const char *ipv6, bool v4_changed, bool v6_changed, int64_t now)
{
	struct template_vars *v;
	int rc;

	if (!notify_wants_change(n))
		return 0;
	v = template_vars_new();
	if (!v)
		return ERR_NOMEM;
	/* Current addresses: the new one for a family this update set, else the stored. */
	rc = set_host_vars(v, h);
	if (rc == 0)
		rc = template_vars_set_bool(v, "ipv4_changed", v4_changed);
	if (rc == 0)
		rc = set_str_or_none(v, "ipv4", ipv4 ? ipv4 : h->v4.ip);
	if (rc == 0)
		rc = set_time(v, "last_ipv4_update", ipv4 ? now : h->v4.updated);
	if (rc == 0)
		rc = template_vars_set_bool(v, "ipv6_changed", v6_changed);
	if (rc == 0)
		rc = set_str_or_none(v, "ipv6", ipv6 ? ipv6 : h->v6.ip);
	if (rc == 0)
		rc = set_time(v, "last_ipv6_update", ipv6 ? now : h->v6.updated);
	if (rc == 0)
		rc = render_and_queue(n, n->change, v, to, "change", h->fqdn);
	template_vars_free(v);
	return rc;
}

int
notify_expiry(struct notify *n, const char *to, const struct db_host *h, int families)
{
	struct template_vars *v;
	int rc;

	if (!n || !n->queue || !n->expiry)
		return 0;
	v = template_vars_new();
	if (!v)
		return ERR_NOMEM;
	rc = set_host_vars(v, h);
	if (rc == 0)
		rc = template_vars_set_bool(v, "ipv4_expired", (families & DB_V4) != 0);
	if (rc == 0)
		rc = set_str_or_none(v, "last_ipv4", h->v4.ip);
	if (rc == 0)
		rc = set_time(v, "last_ipv4_update", h->v4.updated);
	if (rc == 0)
		rc = template_vars_set_bool(v, "ipv6_expired", (families & DB_V6) != 0);
	if (rc == 0)
		rc = set_str_or_none(v, "last_ipv6", h->v6.ip);
	if (rc == 0)
		rc = set_time(v, "last_ipv6_update", h->v6.updated);
	if (rc == 0)
		rc = render_and_queue(n, n->expiry, v, to, "expiry", h->fqdn);
	template_vars_free(v);
	return rc;
}
