/* SPDX-License-Identifier: MIT */
/* config.toml → struct config: one declarative table of keys drives defaults, parsing,
 * validation and freeing; sections with structure of their own (zone keys, endpoints)
 * are walked by hand. Every error names the file, line and key. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"

#include "addr.h"
#include "dns.h"
#include "email.h"
#include "err.h"
#include "ratelimit.h"
#include "toml.h"

#define ERRMSG_MAX 256 /* bytes of a message from a value checker */

enum key_type {
	KT_STRING,  /* char * (NULL when unset) */
	KT_INT,	    /* int */
	KT_INT64,   /* long long */
	KT_BOOL,    /* bool */
	KT_ENUM,    /* a string in the file, an int-sized enum in the struct */
	KT_STRLIST, /* struct config_strlist */
};

/* One key of the table. Conditions that make a key required and value checks are
 * functions, so that the rules read as data. */
struct key_def {
	const char *section;
	const char *name;
	const char *full; /* "section.name" */
	enum key_type type;
	size_t offset;		     /* of the field in struct config */
	long long min, max;	     /* bounds of an integer */
	const char *def;	     /* default of a string or enum; NULL = unset */
	const char *const *def_list; /* default of a string list, NULL-terminated; NULL = empty */
	long long def_num;	     /* default of an integer or boolean */
	bool may_be_empty;	     /* "" is a meaningful value (proxy_header) */
	bool secret;		     /* wiped before it is freed */
	int (*parse_enum)(const char *s, int *out);
	const char *choices;				    /* the enum's values, for messages */
	int (*check)(const char *s, char *why, size_t len); /* value (or item) checker */
	bool (*required_if)(const struct config *cfg);
	const char *required_when; /* the condition, for messages */
};

static const char *const section_names[] = {"daemon", "defaults",   "database", "dns_service",
					    "email",  "rate_limit", "acme"};

#define NSECTIONS (sizeof(section_names) / sizeof(section_names[0]))

/* Parser state; lines are 0 when a key or section is absent. */
struct ctx {
	const char *path;
	struct config_error *err;
	struct config *cfg;
	int *key_line; /* one per table entry */
	int section_line[NSECTIONS];
	int end_line; /* the last line of the file (1 when empty) */
};

/* Enum parsers with one signature for the table. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum log_target) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum db_backend) == sizeof(int), "enum fields are int-sized");

static int
parse_level(const char *s, int *out)
{
	enum log_level l = LOG_LVL_INFO;
	int rc = log_level_parse(s, &l);

	*out = (int)l;
	return rc;
}

static int
parse_target(const char *s, int *out)
{
	enum log_target t = LOG_TARGET_STDOUT;
	int rc = log_target_parse(s, &t);

	*out = (int)t;
	return rc;
}

static int
parse_backend(const char *s, int *out)
{
	if (strcasecmp(s, "sqlite") == 0)
		*out = DB_BACKEND_SQLITE;
	else if (strcasecmp(s, "mariadb") == 0)
		*out = DB_BACKEND_MARIADB;
	else
		return ERR_INVAL;
	return 0;
}

/* Value checkers: 0, or ERR_INVAL with the reason in `why`. */
static int
check_ip(const char *s, char *why, size_t len)
{
	struct addr a;

	if (addr_parse(s, &a) == 0)
		return 0;
	snprintf(why, len, "\"%s\" is not an IP address", s);
	return ERR_INVAL;
}

static int
check_cidr(const char *s, char *why, size_t len)
{
	struct cidr c;

	if (cidr_parse(s, &c) == 0)
		return 0;
	snprintf(why, len, "\"%s\" is not an IP address or CIDR prefix", s);
	return ERR_INVAL;
}

/* An HTTP header name is an RFC 9110 token; "" disables the proxy header. */
static int
check_header_name(const char *s, char *why, size_t len)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (strchr("!#$%&'*+-.^_`|~", *p) == NULL &&
		    !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z'))) {
			snprintf(why, len, "\"%s\" is not an HTTP header name", s);
			return ERR_INVAL;
		}
	}
	return 0;
}

/* The rule of email.h: what the mailer would refuse as a sender stops the start, rather
 * than every notification later. */
static int
check_email(const char *s, char *why, size_t len)
{
	if (email_address_is_valid(s))
		return 0;
	snprintf(why, len, "\"%s\" is not an email address", s);
	return ERR_INVAL;
}

/* An HTTP path of ours (metrics, health, acme): absolute, without blanks, controls,
 * query or fragment. */
static int
check_path(const char *s, char *why, size_t len)
{
	if (s[0] != '/') {
		snprintf(why, len, "\"%s\" does not start with '/'", s);
		return ERR_INVAL;
	}
	if (strlen(s) > CONFIG_MAX_PATH) {
		snprintf(why, len, "longer than %d bytes", CONFIG_MAX_PATH);
		return ERR_INVAL;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#') {
			snprintf(why, len,
				 "\"%s\" contains a space, '?', '#' or a control character", s);
			return ERR_INVAL;
		}
	}
	return 0;
}

/* Conditions under which a key is required. */
static bool
when_ssl(const struct config *c)
{
	return c->daemon.ssl;
}

static bool
when_syslog(const struct config *c)
{
	return c->daemon.log.target == LOG_TARGET_SYSLOG;
}

static bool
when_file(const struct config *c)
{
	return c->daemon.log.target == LOG_TARGET_FILE;
}

static bool
when_sqlite(const struct config *c)
{
	return c->database.backend == DB_BACKEND_SQLITE;
}

static bool
when_mariadb(const struct config *c)
{
	return c->database.backend == DB_BACKEND_MARIADB;
}

static bool
when_mariadb_tcp(const struct config *c)
{
	return c->database.backend == DB_BACKEND_MARIADB && c->database.socket == NULL;
}

static bool
when_email(const struct config *c)
{
	return c->email.enabled;
}

static bool
when_smtp_password(const struct config *c)
{
	return c->email.smtp_password != NULL;
}

#define K(sec, key)	   .section = sec, .name = key, .full = sec "." key
#define OFF(field)	   .offset = offsetof(struct config, field)
#define INT(lo, hi, d)	   .type = KT_INT, .min = (lo), .max = (hi), .def_num = (d)
#define BOOL(d)		   .type = KT_BOOL, .def_num = (d)
#define STR(d)		   .type = KT_STRING, .def = (d)
#define ENUM(d, fn, names) .type = KT_ENUM, .def = (d), .parse_enum = (fn), .choices = (names)
#define REQUIRED(fn, text) .required_if = (fn), .required_when = (text)
#define PORT(d)		   INT(1, 65535, d)
#define SECONDS(d)	   INT(1, 86400, d)
#define TTL(lo, d)	   INT(lo, INT32_MAX, d)

/* metrics_allow's default: the monitoring endpoints answer local scrapers only. */
static const char *const loopback[] = {"127.0.0.1", "::1", NULL};

/* The keys of config.toml with the seed's defaults (and our MariaDB/SMTP additions). */
static const struct key_def keys[] = {
	{K("daemon", "host"), OFF(daemon.host), STR("localhost")},
	{K("daemon", "port"), OFF(daemon.port), PORT(8443)},
	{K("daemon", "log_level"), OFF(daemon.log.level),
	 ENUM("INFO", parse_level, "DEBUG, INFO, WARNING, ERROR")},
	{K("daemon", "log_target"), OFF(daemon.log.target),
	 ENUM("stdout", parse_target, "stdout, syslog, file")},
	{K("daemon", "syslog_socket"), OFF(daemon.log.syslog_socket), STR("/dev/log"),
	 REQUIRED(when_syslog, "daemon.log_target = \"syslog\"")},
	{K("daemon", "syslog_facility"), OFF(daemon.log.syslog_facility),
	 ENUM("daemon", log_facility_parse,
	      "daemon, user, local0 .. local7 (or another syslog facility name)")},
	{K("daemon", "log_file"), OFF(daemon.log.file),
	 STR("/var/log/ddns-service/ddns-service.log"),
	 REQUIRED(when_file, "daemon.log_target = \"file\"")},
	{K("daemon", "log_file_size"), OFF(daemon.log.file_size), .type = KT_INT64, .min = 0,
	 .max = 1LL << 40, .def_num = 52428800},
	{K("daemon", "log_versions"), OFF(daemon.log.versions), INT(0, 1000, 5)},
	{K("daemon", "log_requests"), OFF(daemon.log_requests), BOOL(false)},
	{K("daemon", "ssl"), OFF(daemon.ssl), BOOL(false)},
	{K("daemon", "ssl_cert_file"), OFF(daemon.ssl_cert_file), STR(NULL),
	 REQUIRED(when_ssl, "daemon.ssl = true")},
	{K("daemon", "ssl_key_file"), OFF(daemon.ssl_key_file), STR(NULL),
	 REQUIRED(when_ssl, "daemon.ssl = true")},
	{K("daemon", "request_timeout"), OFF(daemon.request_timeout), INT(1, 300, 10)},
	{K("daemon", "proxy_header"), OFF(daemon.proxy_header), STR(""), .may_be_empty = true,
	 .check = check_header_name},
	{K("daemon", "trusted_proxies"), OFF(daemon.trusted_proxies), .type = KT_STRLIST,
	 .check = check_cidr},
	{K("daemon", "metrics_path"), OFF(daemon.metrics_path), STR("/metrics"),
	 .check = check_path},
	{K("daemon", "health_path"), OFF(daemon.health_path), STR("/health"), .check = check_path},
	{K("daemon", "metrics_allow"), OFF(daemon.metrics_allow), .type = KT_STRLIST,
	 .def_list = loopback, .check = check_cidr},
	{K("daemon", "allow_private_addresses"), OFF(daemon.allow_private_addresses), BOOL(true)},
	/* A week bounds how long a verified password is trusted without Argon2 (a changed
	 * stored hash ends it at once anyway); ten million entries of ~100 bytes bound the
	 * memory at ~1 GB. */
	{K("daemon", "credential_cache_ttl"), OFF(daemon.credential_cache_ttl),
	 INT(0, 604800, 600)},
	{K("daemon", "credential_cache_size"), OFF(daemon.credential_cache_size),
	 INT(0, 10000000, 100000)},

	{K("database", "backend"), OFF(database.backend),
	 ENUM("sqlite", parse_backend, "sqlite, mariadb")},
	{K("database", "path"), OFF(database.path), STR(NULL),
	 REQUIRED(when_sqlite, "database.backend = \"sqlite\"")},
	{K("database", "host"), OFF(database.host), STR(NULL),
	 REQUIRED(when_mariadb_tcp, "database.backend = \"mariadb\" without database.socket")},
	{K("database", "port"), OFF(database.port), PORT(3306)},
	{K("database", "socket"), OFF(database.socket), STR(NULL)},
	{K("database", "user"), OFF(database.user), STR(NULL),
	 REQUIRED(when_mariadb, "database.backend = \"mariadb\"")},
	{K("database", "password"), OFF(database.password), STR(NULL), .secret = true},
	{K("database", "name"), OFF(database.name), STR(NULL),
	 REQUIRED(when_mariadb, "database.backend = \"mariadb\"")},

	{K("dns_service", "dns_server"), OFF(dns.dns_server), STR("127.0.0.1"), .check = check_ip},
	{K("dns_service", "dns_port"), OFF(dns.dns_port), PORT(53)},
	{K("dns_service", "dns_timeout"), OFF(dns.dns_timeout), INT(1, 300, 5)},
	{K("dns_service", "ddns_default_key_file"), OFF(dns.ddns_default_key_file), STR(NULL)},
	{K("dns_service", "cleanup_interval"), OFF(dns.cleanup_interval), SECONDS(60)},
	{K("dns_service", "reconcile_on_start"), OFF(dns.reconcile_on_start), BOOL(false)},

	{K("defaults", "dns_ttl"), OFF(defaults.dns_ttl), TTL(0, 60)},
	{K("defaults", "expiry_ttl"), OFF(defaults.expiry_ttl), TTL(0, 3600)},

	{K("email", "enabled"), OFF(email.enabled), BOOL(false)},
	{K("email", "smtp_host"), OFF(email.smtp_host), STR(NULL),
	 REQUIRED(when_email, "email.enabled = true")},
	{K("email", "smtp_port"), OFF(email.smtp_port), PORT(25)},
	{K("email", "smtp_starttls"), OFF(email.smtp_starttls), BOOL(false)},
	{K("email", "smtp_user"), OFF(email.smtp_user), STR(NULL),
	 REQUIRED(when_smtp_password, "email.smtp_password is set")},
	{K("email", "smtp_password"), OFF(email.smtp_password), STR(NULL), .secret = true},
	{K("email", "smtp_ca_file"), OFF(email.smtp_ca_file), STR(NULL)},
	{K("email", "from_address"), OFF(email.from_address), STR(NULL), .check = check_email,
	 REQUIRED(when_email, "email.enabled = true")},
	{K("email", "change_notification_template"), OFF(email.change_notification_template),
	 STR(NULL)},
	{K("email", "expiry_notification_template"), OFF(email.expiry_notification_template),
	 STR(NULL)},

	{K("rate_limit", "enabled"), OFF(rate_limit.enabled), BOOL(true)},
	{K("rate_limit", "good_window_seconds"), OFF(rate_limit.good_window_seconds), SECONDS(60)},
	{K("rate_limit", "good_max_requests"), OFF(rate_limit.good_max_requests),
	 INT(1, RATELIMIT_MAX_REQUESTS, 5)},
	{K("rate_limit", "bad_window_seconds"), OFF(rate_limit.bad_window_seconds), SECONDS(60)},
	{K("rate_limit", "bad_max_requests"), OFF(rate_limit.bad_max_requests),
	 INT(1, RATELIMIT_MAX_REQUESTS, 3)},
	{K("rate_limit", "cleanup_interval"), OFF(rate_limit.cleanup_interval), SECONDS(60)},

	{K("acme", "enabled"), OFF(acme.enabled), BOOL(false)},
	{K("acme", "path"), OFF(acme.path), STR("/acme"), .check = check_path},
	{K("acme", "txt_ttl"), OFF(acme.txt_ttl), INT(0, 86400, 60)},
	/* A validation takes seconds to minutes; a week is long past any client. */
	{K("acme", "max_age"), OFF(acme.max_age), INT(60, 7 * 86400, 3600)},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const param_names[PARAM_COUNT] = {
	"hostname", "ipv4", "ipv6", "username", "password", "notify_change", "offline"};

/* The seed's "default accepted parameter names" (first match wins); `offline` is
 * Dyn's name for it. */
static const char *const default_aliases[PARAM_COUNT][4] = {
	{"hostname", "host"}, {"myip", "ipv4", "ip4"},	     {"myip6", "ipv6", "ip6"},
	{"username", "user"}, {"password", "pass", "token"}, {"notify_change"},
	{"offline"},
};

size_t
config_key_count(void)
{
	return NKEYS;
}

const char *
config_key_name(size_t i)
{
	return i < NKEYS ? keys[i].full : NULL;
}

const char *
config_param_name(enum config_param p)
{
	return (unsigned)p < PARAM_COUNT ? param_names[p] : "?";
}

/* ---- errors ---- */

static int fail(struct ctx *c, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* fail: fills the error as "PATH:LINE: key: message"; returns ERR_INVAL. */
static int
fail(struct ctx *c, int line, const char *key, const char *fmt, ...)
{
	char *msg = c->err->msg;
	size_t cap = sizeof(c->err->msg);
	int n = snprintf(msg, cap, "%s:%d: %s: ", c->path, line, key);
	va_list ap;

	if (n < 0 || (size_t)n >= cap)
		return ERR_INVAL; /* the prefix alone fills the buffer: keep it */
	va_start(ap, fmt);
	vsnprintf(msg + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	return ERR_INVAL;
}

/* key_display: a key from the file as TOML would write it: bare when it can be,
 * quoted otherwise, bytes that are not printable ASCII as '?'. Bounded. */
static void
key_display(char *out, size_t cap, const char *prefix, const char *key, size_t len)
{
	bool bare = len > 0;
	size_t n;

	for (size_t i = 0; i < len; i++) {
		char ch = key[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			bare = false;
	}
	n = (size_t)snprintf(out, cap, "%s%s%s", prefix, prefix[0] ? "." : "", bare ? "" : "\"");
	for (size_t i = 0; i < len && n + 2 < cap && i < 64; i++) {
		unsigned char ch = (unsigned char)key[i];

		out[n++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
	}
	if (!bare && n + 1 < cap)
		out[n++] = '"';
	out[n < cap ? n : cap - 1] = '\0';
}

/* a_type: "a string", "an integer", ... for messages. */
static const char *
a_type(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE: return "a table";
	case TOML_ARRAY: return "an array";
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: break;
	}
	return "a date/time";
}

static bool
kv_is(const struct toml_kv *kv, const char *name)
{
	return kv->key_len == strlen(name) && memcmp(kv->key, name, kv->key_len) == 0;
}

/* ---- field access through the table's offsets ---- */

static void *
field(struct config *cfg, const struct key_def *k)
{
	return (char *)cfg + k->offset;
}

/* Strings are stored with memcpy: some fields are `const char *` (struct log_settings). */
static char *
get_str(const struct config *cfg, const struct key_def *k)
{
	char *s;

	memcpy(&s, (const char *)cfg + k->offset, sizeof(s));
	return s;
}

static void
set_str(struct config *cfg, const struct key_def *k, char *s)
{
	char *old = get_str(cfg, k);

	if (old != NULL && k->secret)
		explicit_bzero(old, strlen(old));
	free(old);
	memcpy(field(cfg, k), &s, sizeof(s));
}

static void
strlist_free(struct config_strlist *l)
{
	for (size_t i = 0; i < l->len; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->len = 0;
}

/* strlist_from: copies a NULL-terminated array of static strings. */
static int
strlist_from(struct config_strlist *l, const char *const *src)
{
	size_t n = 0;

	while (n < 4 && src[n] != NULL)
		n++;
	l->items = calloc(n ? n : 1, sizeof(char *));
	if (l->items == NULL)
		return ERR_NOMEM;
	for (l->len = 0; l->len < n; l->len++) {
		l->items[l->len] = strdup(src[l->len]);
		if (l->items[l->len] == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

static int
set_defaults(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		char *s = NULL;
		int v = 0;

		switch (k->type) {
		case KT_STRING:
			if (k->def != NULL && (s = strdup(k->def)) == NULL)
				return ERR_NOMEM;
			set_str(cfg, k, s);
			break;
		case KT_INT: *(int *)field(cfg, k) = (int)k->def_num; break;
		case KT_INT64: *(long long *)field(cfg, k) = k->def_num; break;
		case KT_BOOL: *(bool *)field(cfg, k) = k->def_num != 0; break;
		case KT_ENUM:
			k->parse_enum(k->def, &v);
			memcpy(field(cfg, k), &v, sizeof(v));
			break;
		case KT_STRLIST:
			if (k->def_list != NULL && strlist_from(field(cfg, k), k->def_list) != 0)
				return ERR_NOMEM;
			break;
		}
	}
	return 0;
}

/* ---- values ---- */

/* string_value: a checked copy of a TOML string (no NUL inside, bounded, non-empty
 * unless allowed). *out is NULL for an empty optional string. */
static int
string_value(struct ctx *c, const struct key_def *k, const struct toml_value *v, int line,
	     size_t max, char **out)
{
	*out = NULL;
	if (v->type != TOML_STRING)
		return fail(c, line, k->full, "expected a string, got %s", a_type(v->type));
	if (memchr(v->u.s.ptr, '\0', v->u.s.len) != NULL)
		return fail(c, line, k->full, "contains a NUL character");
	if (v->u.s.len > max)
		return fail(c, line, k->full, "longer than %zu bytes", max);
	if (v->u.s.len == 0 && !k->may_be_empty) {
		/* An empty optional string means "unset", as in the original. */
		if (k->def == NULL || k->type != KT_STRING)
			return 0;
		return fail(c, line, k->full, "must not be empty");
	}
	*out = strdup(v->u.s.ptr);
	return *out != NULL ? 0 : ERR_NOMEM;
}

static int
run_check(struct ctx *c, const struct key_def *k, const char *s, int line)
{
	char why[ERRMSG_MAX];

	if (k->check == NULL || k->check(s, why, sizeof(why)) == 0)
		return 0;
	return fail(c, line, k->full, "%s", why);
}

static int
set_integer(struct ctx *c, const struct key_def *k, const struct toml_value *v, int line)
{
	if (v->type != TOML_INTEGER)
		return fail(c, line, k->full, "expected an integer, got %s", a_type(v->type));
	if (v->u.i < k->min || v->u.i > k->max)
		return fail(c, line, k->full, "%lld is out of range (%lld..%lld)",
			    (long long)v->u.i, k->min, k->max);
	if (k->type == KT_INT)
		*(int *)field(c->cfg, k) = (int)v->u.i;
	else
		*(long long *)field(c->cfg, k) = (long long)v->u.i;
	return 0;
}

static int
set_enum(struct ctx *c, const struct key_def *k, const struct toml_value *v, int line)
{
	char *s = NULL;
	int val = 0, rc = string_value(c, k, v, line, CONFIG_MAX_STRING, &s);

	if (rc == 0 && (s == NULL || k->parse_enum(s, &val) != 0))
		rc = fail(c, line, k->full, "\"%s\" is not one of %s", s ? s : "", k->choices);
	if (rc == 0)
		memcpy(field(c->cfg, k), &val, sizeof(val));
	free(s);
	return rc;
}

static int
set_string(struct ctx *c, const struct key_def *k, const struct toml_value *v, int line)
{
	char *s = NULL;
	int rc = string_value(c, k, v, line, CONFIG_MAX_STRING, &s);

	if (rc == 0 && s != NULL)
		rc = run_check(c, k, s, line);
	if (rc != 0) {
		free(s);
		return rc;
	}
	set_str(c->cfg, k, s);
	return 0;
}

static int
set_strlist(struct ctx *c, const struct key_def *k, const struct toml_value *v, int line)
{
	struct config_strlist *l = field(c->cfg, k);
	int rc = 0;

	if (v->type != TOML_ARRAY)
		return fail(c, line, k->full, "expected an array of strings, got %s",
			    a_type(v->type));
	if (v->u.arr.len > CONFIG_MAX_LIST)
		return fail(c, line, k->full, "more than %d items", CONFIG_MAX_LIST);
	strlist_free(l);
	l->items = calloc(v->u.arr.len ? v->u.arr.len : 1, sizeof(char *));
	if (l->items == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < v->u.arr.len && rc == 0; i++) {
		const struct toml_value *it = v->u.arr.items[i];
		int il = it->line > 0 ? it->line : line;

		if (it->type != TOML_STRING)
			return fail(c, il, k->full, "expected an array of strings, item %zu is %s",
				    i + 1, a_type(it->type));
		rc = string_value(c, k, it, il, CONFIG_MAX_STRING, &l->items[l->len]);
		if (rc == 0 && l->items[l->len] == NULL)
			rc = fail(c, il, k->full, "item %zu is empty", i + 1);
		if (rc == 0)
			rc = run_check(c, k, l->items[l->len++], il);
	}
	return rc;
}

static int
set_value(struct ctx *c, size_t idx, const struct toml_kv *kv)
{
	const struct key_def *k = &keys[idx];
	const struct toml_value *v = kv->value;

	c->key_line[idx] = kv->line;
	switch (k->type) {
	case KT_STRING: return set_string(c, k, v, kv->line);
	case KT_INT:
	case KT_INT64: return set_integer(c, k, v, kv->line);
	case KT_BOOL:
		if (v->type != TOML_BOOL)
			return fail(c, kv->line, k->full, "expected a boolean, got %s",
				    a_type(v->type));
		*(bool *)field(c->cfg, k) = v->u.b;
		return 0;
	case KT_ENUM: return set_enum(c, k, v, kv->line);
	case KT_STRLIST: return set_strlist(c, k, v, kv->line);
	}
	return ERR_INTERNAL;
}

/* ---- [dns_service.zone_keys] ---- */

/* zone_normalize: lower-case, without the trailing dot, in place. */
static void
zone_normalize(char *z)
{
	size_t n = strlen(z);

	for (size_t i = 0; i < n; i++) {
		if (z[i] >= 'A' && z[i] <= 'Z')
			z[i] = (char)(z[i] - 'A' + 'a');
	}
	if (n > 0 && z[n - 1] == '.')
		z[n - 1] = '\0';
}

static bool
zone_is_sane(const char *z, size_t len)
{
	if (len == 0 || len > 253 || memchr(z, '\0', len) != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)z[i] <= ' ' || z[i] == 0x7f)
			return false;
	}
	return true;
}

/* zone_has_empty_label: whether a normalised zone is "" or has an empty label (".a",
 * "a..b", or "a." left from "a.."). Request zones are host names, whose labels are
 * never empty, so such a zone would silently never get its key. */
static bool
zone_has_empty_label(const char *z)
{
	size_t n = strlen(z);

	return n == 0 || z[0] == '.' || z[n - 1] == '.' || strstr(z, "..") != NULL;
}

/* load_key: reads a TSIG key file; the tsig module's message (with its own file and
 * line) becomes ours. */
static int
load_key(struct ctx *c, const char *key, int line, const char *path, struct tsig_key *out)
{
	char why[ERRMSG_MAX];
	int rc = tsig_key_load(path, out, why, sizeof(why));

	if (rc == ERR_NOMEM)
		return rc;
	if (rc != 0)
		return fail(c, line, key, "%s", why);
	return 0;
}

static int
zone_key_add(struct ctx *c, const struct toml_kv *kv)
{
	struct config *cfg = c->cfg;
	struct config_zone_key *zk = &cfg->dns.zone_keys[cfg->dns.zone_keys_len];
	const struct toml_value *v = kv->value;
	char name[160];

	key_display(name, sizeof(name), "dns_service.zone_keys", kv->key, kv->key_len);
	if (!zone_is_sane(kv->key, kv->key_len))
		return fail(c, kv->line, name, "not a zone name");
	if (v->type != TOML_STRING)
		return fail(c, kv->line, name, "expected a string (a key file), got %s",
			    a_type(v->type));
	if (v->u.s.len == 0 || v->u.s.len > CONFIG_MAX_STRING ||
	    memchr(v->u.s.ptr, '\0', v->u.s.len) != NULL)
		return fail(c, kv->line, name, "expected the path of a TSIG key file");
	zk->zone = strdup(kv->key);
	zk->key_file = strdup(v->u.s.ptr);
	cfg->dns.zone_keys_len++;
	if (zk->zone == NULL || zk->key_file == NULL)
		return ERR_NOMEM;
	zone_normalize(zk->zone);
	for (size_t i = 0; i + 1 < cfg->dns.zone_keys_len; i++) {
		if (strcmp(cfg->dns.zone_keys[i].zone, zk->zone) == 0)
			return fail(c, kv->line, name, "zone \"%s\" listed twice", zk->zone);
	}
	if (zone_has_empty_label(zk->zone))
		return fail(c, kv->line, name, "not a zone name");
	return load_key(c, name, kv->line, zk->key_file, &zk->key);
}

static int
parse_zone_keys(struct ctx *c, const struct toml_kv *kv)
{
	const struct toml_value *t = kv->value;
	int rc = 0;

	if (t->type != TOML_TABLE)
		return fail(c, kv->line, "dns_service.zone_keys",
			    "expected a table of \"zone\" = \"key file\", got %s", a_type(t->type));
	if (t->u.tab.len > CONFIG_MAX_ZONE_KEYS)
		return fail(c, kv->line, "dns_service.zone_keys", "more than %d zones",
			    CONFIG_MAX_ZONE_KEYS);
	c->cfg->dns.zone_keys =
		calloc(t->u.tab.len ? t->u.tab.len : 1, sizeof(struct config_zone_key));
	if (c->cfg->dns.zone_keys == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < t->u.tab.len && rc == 0; i++)
		rc = zone_key_add(c, &t->u.tab.items[i]);
	return rc;
}

/* ---- [[endpoints]] ---- */

static int
endpoint_path(struct ctx *c, struct config_endpoint *ep, const struct toml_kv *kv)
{
	const struct toml_value *v = kv->value;
	const struct config *cfg = c->cfg;
	char why[CONFIG_MAX_PATH + 64];
	const char *p;

	if (v->type != TOML_STRING)
		return fail(c, kv->line, "endpoints.path", "expected a string, got %s",
			    a_type(v->type));
	p = v->u.s.ptr;
	/* A NUL inside the string would hide the rest of it from check_path. */
	if (memchr(p, '\0', v->u.s.len) != NULL)
		return fail(c, kv->line, "endpoints.path",
			    "\"%s\" contains a space, '?', '#' or a control character", p);
	if (check_path(p, why, sizeof(why)) != 0)
		return fail(c, kv->line, "endpoints.path", "%s", why);
	for (size_t i = 0; i < cfg->endpoints_len; i++) {
		if (cfg->endpoints[i].path != NULL && strcmp(cfg->endpoints[i].path, p) == 0)
			return fail(c, kv->line, "endpoints.path", "duplicate path \"%s\"", p);
	}
	ep->path = strdup(p);
	return ep->path != NULL ? 0 : ERR_NOMEM;
}

static int
alias_list(struct ctx *c, struct config_strlist *l, const struct toml_kv *kv, const char *name)
{
	const struct toml_value *v = kv->value;

	if (v->type != TOML_ARRAY)
		return fail(c, kv->line, name, "expected an array of strings, got %s",
			    a_type(v->type));
	if (v->u.arr.len > CONFIG_MAX_ALIASES)
		return fail(c, kv->line, name, "more than %d names", CONFIG_MAX_ALIASES);
	strlist_free(l);
	l->items = calloc(v->u.arr.len ? v->u.arr.len : 1, sizeof(char *));
	if (l->items == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < v->u.arr.len; i++) {
		const struct toml_value *it = v->u.arr.items[i];

		if (it->type != TOML_STRING)
			return fail(c, kv->line, name,
				    "expected an array of strings, item %zu is %s", i + 1,
				    a_type(it->type));
		if (it->u.s.len == 0 || it->u.s.len > CONFIG_MAX_ALIAS ||
		    memchr(it->u.s.ptr, '\0', it->u.s.len) != NULL)
			return fail(c, kv->line, name,
				    "item %zu is not a parameter name (1..%d bytes)", i + 1,
				    CONFIG_MAX_ALIAS);
		l->items[i] = strdup(it->u.s.ptr);
		if (l->items[i] == NULL)
			return ERR_NOMEM;
		l->len++;
	}
	return 0;
}

static int
endpoint_params(struct ctx *c, struct config_endpoint *ep, const struct toml_kv *kv)
{
	const struct toml_value *t = kv->value;
	char name[160];
	int rc = 0;

	if (t->type != TOML_TABLE)
		return fail(c, kv->line, "endpoints.params", "expected a table, got %s",
			    a_type(t->type));
	for (size_t i = 0; i < t->u.tab.len && rc == 0; i++) {
		const struct toml_kv *p = &t->u.tab.items[i];
		int which = -1;

		for (int j = 0; j < PARAM_COUNT; j++) {
			if (kv_is(p, param_names[j]))
				which = j;
		}
		key_display(name, sizeof(name), "endpoints.params", p->key, p->key_len);
		if (which < 0)
			return fail(c, p->line, name,
				    "unknown parameter (one of hostname, ipv4, "
				    "ipv6, username, password, notify_change, offline)");
		rc = alias_list(c, &ep->params[which], p, name);
	}
	return rc;
}

static int
endpoint_defaults(struct config_endpoint *ep)
{
	for (int j = 0; j < PARAM_COUNT; j++) {
		if (ep->params[j].items == NULL && strlist_from(&ep->params[j], default_aliases[j]))
			return ERR_NOMEM;
	}
	return 0;
}

static int
parse_endpoint(struct ctx *c, const struct toml_value *t, int line)
{
	struct config_endpoint *ep = &c->cfg->endpoints[c->cfg->endpoints_len];
	int rc = 0;

	if (t->type != TOML_TABLE)
		return fail(c, line, "endpoints", "expected an array of tables, an item is %s",
			    a_type(t->type));
	for (size_t i = 0; i < t->u.tab.len && rc == 0; i++) {
		const struct toml_kv *kv = &t->u.tab.items[i];
		char name[160];

		if (kv_is(kv, "path")) {
			rc = endpoint_path(c, ep, kv);
		} else if (kv_is(kv, "params")) {
			rc = endpoint_params(c, ep, kv);
		} else {
			key_display(name, sizeof(name), "endpoints", kv->key, kv->key_len);
			rc = fail(c, kv->line, name, "unknown key");
		}
	}
	c->cfg->endpoints_len++; /* now owned by cfg, also on error */
	if (rc == 0 && ep->path == NULL)
		rc = fail(c, t->line > 0 ? t->line : line, "endpoints.path", "required");
	return rc != 0 ? rc : endpoint_defaults(ep);
}

static int
parse_endpoints(struct ctx *c, const struct toml_kv *kv)
{
	const struct toml_value *a = kv->value;
	int rc = 0;

	if (a->type != TOML_ARRAY)
		return fail(c, kv->line, "endpoints",
			    "expected an array of tables ([[endpoints]]), got %s", a_type(a->type));
	if (a->u.arr.len > CONFIG_MAX_ENDPOINTS)
		return fail(c, kv->line, "endpoints", "more than %d endpoints",
			    CONFIG_MAX_ENDPOINTS);
	c->cfg->endpoints = calloc(a->u.arr.len ? a->u.arr.len : 1, sizeof(struct config_endpoint));
	if (c->cfg->endpoints == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < a->u.arr.len && rc == 0; i++)
		rc = parse_endpoint(c, a->u.arr.items[i], kv->line);
	return rc;
}

/* The default endpoint when the file has none: /update with the seed's aliases. */
static int
default_endpoint(struct config *cfg)
{
	cfg->endpoints = calloc(1, sizeof(struct config_endpoint));
	if (cfg->endpoints == NULL)
		return ERR_NOMEM;
	cfg->endpoints_len = 1;
	cfg->endpoints[0].path = strdup("/update");
	if (cfg->endpoints[0].path == NULL)
		return ERR_NOMEM;
	return endpoint_defaults(&cfg->endpoints[0]);
}

/* ---- sections ---- */

static int
parse_section(struct ctx *c, const char *sec, const struct toml_kv *skv)
{
	const struct toml_value *t = skv->value;
	char name[160];
	int rc = 0;

	if (t->type != TOML_TABLE)
		return fail(c, skv->line, sec, "expected a table ([%s]), got %s", sec,
			    a_type(t->type));
	for (size_t i = 0; i < t->u.tab.len && rc == 0; i++) {
		const struct toml_kv *kv = &t->u.tab.items[i];
		size_t idx = NKEYS;

		if (strcmp(sec, "dns_service") == 0 && kv_is(kv, "zone_keys")) {
			rc = parse_zone_keys(c, kv);
			continue;
		}
		for (size_t k = 0; k < NKEYS; k++) {
			if (strcmp(keys[k].section, sec) == 0 && kv_is(kv, keys[k].name))
				idx = k;
		}
		if (idx == NKEYS) {
			key_display(name, sizeof(name), sec, kv->key, kv->key_len);
			return fail(c, kv->line, name, "unknown key");
		}
		rc = set_value(c, idx, kv);
	}
	return rc;
}

static int
parse_root(struct ctx *c, const struct toml_value *root)
{
	int rc = 0;

	for (size_t i = 0; i < root->u.tab.len && rc == 0; i++) {
		const struct toml_kv *kv = &root->u.tab.items[i];
		size_t s = 0;
		char name[160];

		if (kv_is(kv, "endpoints")) {
			rc = parse_endpoints(c, kv);
			continue;
		}
		while (s < NSECTIONS && !kv_is(kv, section_names[s]))
			s++;
		key_display(name, sizeof(name), "", kv->key, kv->key_len);
		if (s == NSECTIONS)
			return fail(c, kv->line, name,
				    kv->value->type == TOML_TABLE
					    ? "unknown section"
					    : "unknown key outside any section");
		c->section_line[s] = kv->line;
		rc = parse_section(c, section_names[s], kv);
	}
	return rc;
}

/* ---- checks across keys ---- */

static int
section_line(const struct ctx *c, const char *sec)
{
	for (size_t s = 0; s < NSECTIONS; s++) {
		if (strcmp(section_names[s], sec) == 0 && c->section_line[s] > 0)
			return c->section_line[s];
	}
	return c->end_line;
}

static int
check_required(struct ctx *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];

		if (k->required_if == NULL || !k->required_if(c->cfg) || get_str(c->cfg, k) != NULL)
			continue;
		if (c->key_line[i] > 0)
			return fail(c, c->key_line[i], k->full, "must not be empty when %s",
				    k->required_when);
		return fail(c, section_line(c, k->section), k->full, "required when %s",
			    k->required_when);
	}
	return 0;
}

static size_t
key_index(const char *full)
{
	size_t i = 0;

	while (i < NKEYS && strcmp(keys[i].full, full) != 0)
		i++;
	return i;
}

static int
check_build(struct ctx *c)
{
	if (!HAVE_MARIADB && c->cfg->database.backend == DB_BACKEND_MARIADB) {
		size_t i = key_index("database.backend");

		return fail(c, c->key_line[i], keys[i].full,
			    "\"mariadb\" is not available: built without libmariadb");
	}
	return 0;
}

/* A proxy header believed from nobody changes nothing, so the operator cannot have
 * meant it: behind the proxy every client would then be the proxy, sharing one
 * rate-limit bucket (one attacker's bad logins would lock everybody out). */
static int
check_proxy(struct ctx *c)
{
	const struct config *cfg = c->cfg;
	size_t i = key_index("daemon.proxy_header");

	if (cfg->daemon.proxy_header == NULL || cfg->daemon.proxy_header[0] == '\0' ||
	    cfg->daemon.trusted_proxies.len > 0)
		return 0;
	return fail(c, c->key_line[i], keys[i].full,
		    "needs daemon.trusted_proxies, the addresses of the proxies that set it "
		    "(without them every client would count as the proxy)");
}

static int
load_default_key(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i = key_index("dns_service.ddns_default_key_file");
	int rc;

	if (cfg->dns.ddns_default_key_file == NULL)
		return 0;
	rc = load_key(c, keys[i].full, c->key_line[i], cfg->dns.ddns_default_key_file,
		      &cfg->dns.default_key);
	cfg->dns.has_default_key = rc == 0;
	return rc;
}

/* The monitoring paths are routed before the endpoints: a clash would hide one of them. */
static int
check_monitoring_paths(struct ctx *c)
{
	const struct config *cfg = c->cfg;
	size_t mi = key_index("daemon.metrics_path"), hi = key_index("daemon.health_path");

	if (strcmp(cfg->daemon.metrics_path, cfg->daemon.health_path) == 0)
		return fail(c, c->key_line[hi] ? c->key_line[hi] : c->key_line[mi], keys[hi].full,
			    "\"%s\" is also daemon.metrics_path", cfg->daemon.health_path);
	for (size_t i = 0; i < cfg->endpoints_len; i++) {
		const char *p = cfg->endpoints[i].path;
		size_t k = strcmp(p, cfg->daemon.metrics_path) == 0  ? mi
			   : strcmp(p, cfg->daemon.health_path) == 0 ? hi
								     : NKEYS;

		if (k < NKEYS)
			return fail(c, c->key_line[k] ? c->key_line[k] : section_line(c, "daemon"),
				    keys[k].full, "\"%s\" is also an endpoint path", p);
	}
	return 0;
}

/* ---- entry points ---- */

static int
count_lines(const char *text, size_t len)
{
	int lines = 1;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && i + 1 < len)
			lines++;
	}
	return lines;
}

/* wipe_tree: the parsed document holds passwords: erase every string before freeing. */
static void
wipe_tree(struct toml_value *v)
{
	if (v == NULL)
		return;
	if (v->type == TOML_STRING && v->u.s.ptr != NULL)
		explicit_bzero(v->u.s.ptr, v->u.s.len);
	else if (v->type == TOML_ARRAY)
		for (size_t i = 0; i < v->u.arr.len; i++)
			wipe_tree(v->u.arr.items[i]);
	else if (v->type == TOML_TABLE)
		for (size_t i = 0; i < v->u.tab.len; i++)
			wipe_tree(v->u.tab.items[i].value);
}

static int
build(struct ctx *c, const struct toml_value *root)
{
	int rc = set_defaults(c->cfg);

	if (rc == 0)
		rc = parse_root(c, root);
	if (rc == 0)
		rc = check_required(c);
	if (rc == 0)
		rc = check_build(c);
	if (rc == 0)
		rc = check_proxy(c);
	if (rc == 0)
		rc = load_default_key(c);
	if (rc == 0 && c->cfg->endpoints_len == 0)
		rc = default_endpoint(c->cfg);
	if (rc == 0)
		rc = check_monitoring_paths(c);
	return rc;
}

int
config_parse(const char *text, size_t len, const char *path, struct config **out,
	     struct config_error *err)
{
	struct toml_value *root = NULL;
	struct toml_error terr;
	int key_line[NKEYS] = {0};
	struct ctx c = {.path = path, .err = err, .key_line = key_line};
	int rc;

	*out = NULL;
	err->msg[0] = '\0';
	rc = toml_parse(text, len, &root, &terr);
	if (rc != 0) {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: %s", path, terr.line, terr.col,
			 terr.msg);
		return rc == ERR_NOMEM ? rc : ERR_INVAL;
	}
	c.end_line = count_lines(text, len);
	c.cfg = calloc(1, sizeof(*c.cfg));
	rc = c.cfg == NULL ? ERR_NOMEM : 0;
	if (rc == 0 && (c.cfg->path = strdup(path)) == NULL)
		rc = ERR_NOMEM;
	if (rc == 0)
		rc = build(&c, root);
	if (rc == ERR_NOMEM)
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", path);
	wipe_tree(root);
	toml_free(root);
	if (rc != 0) {
		config_free(c.cfg);
		return rc;
	}
	*out = c.cfg;
	return 0;
}

/* read_file: the whole of a regular file of at most `max` bytes (caller frees). */
static int
read_file(const char *path, size_t max, char **text, size_t *len, struct config_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path,
			 S_ISREG(st.st_mode) ? "file too large" : "not a regular file");
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf != NULL)
		n = read(fd, buf, (size_t)st.st_size + 1);
	if (buf == NULL || n < 0 || (size_t)n > (size_t)st.st_size) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path,
			 buf == NULL ? "out of memory"
			 : n < 0     ? strerror(errno)
				     : "file grew");
		free(buf);
		buf = NULL;
		goto out;
	}
	*text = buf;
	*len = (size_t)n;
out:
	if (fd >= 0)
		close(fd);
	return buf != NULL ? 0 : ERR_IO;
}

int
config_load(const char *path, struct config **out, struct config_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	err->msg[0] = '\0';
	rc = read_file(path, CONFIG_MAX_FILE, &text, &len, err);
	if (rc != 0)
		return rc;
	rc = config_parse(text, len, path, out, err);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

int
config_is_world_readable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return ERR_IO;
	return (st.st_mode & S_IROTH) ? 1 : 0;
}

int
config_is_world_writable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return ERR_IO;
	return (st.st_mode & S_IWOTH) ? 1 : 0;
}

/* zone_eq: `zone` from a request (any case, maybe with a trailing dot) against a
 * normalised zone of the table. */
static bool
zone_eq(const char *normalized, const char *zone)
{
	size_t n = strlen(normalized), m = strlen(zone);

	if (m > 0 && zone[m - 1] == '.')
		m--;
	return n == m && strncasecmp(normalized, zone, n) == 0;
}

const struct tsig_key *
config_zone_key(const struct config *cfg, const char *zone)
{
	for (size_t i = 0; zone != NULL && i < cfg->dns.zone_keys_len; i++) {
		if (zone_eq(cfg->dns.zone_keys[i].zone, zone))
			return &cfg->dns.zone_keys[i].key;
	}
	return cfg->dns.has_default_key ? &cfg->dns.default_key : NULL;
}

const struct tsig_key *
config_dns_server(const struct config *cfg, const char *zone, struct dns_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	/* dns_server was validated as an IP address, so it fits. */
	snprintf(srv->addr, sizeof(srv->addr), "%s", cfg->dns.dns_server);
	srv->port = cfg->dns.dns_port;
	srv->timeout_ms = cfg->dns.dns_timeout * 1000;
	return config_zone_key(cfg, zone);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == KT_STRING)
			set_str(cfg, &keys[i], NULL);
		else if (keys[i].type == KT_STRLIST)
			strlist_free(field(cfg, &keys[i]));
	}
	for (size_t i = 0; i < cfg->dns.zone_keys_len; i++) {
		free(cfg->dns.zone_keys[i].zone);
		free(cfg->dns.zone_keys[i].key_file);
		tsig_key_wipe(&cfg->dns.zone_keys[i].key);
	}
	free(cfg->dns.zone_keys);
	tsig_key_wipe(&cfg->dns.default_key);
	for (size_t i = 0; i < cfg->endpoints_len; i++) {
		free(cfg->endpoints[i].path);
		for (int j = 0; j < PARAM_COUNT; j++)
			strlist_free(&cfg->endpoints[i].params[j]);
	}
	free(cfg->endpoints);
	free(cfg->path);
	free(cfg);
}
