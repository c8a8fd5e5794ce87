/* SPDX-License-Identifier: MIT */
/* The administration commands: users, hostnames and their DNS side effects, as
 * aligned tables or JSON, with exit statuses an operator's script can rely on. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "auth.h"
#include "db.h"
#include "dns.h"
#include "email.h"
#include "err.h"
#include "expiry.h"
#include "hostname.h"
#include "notify.h"
#include "reconcile.h"
#include "token.h"
#include "update.h"
#include "utf8.h"

#define CLI_MAX_POS    4      /* positional arguments of the longest command */
#define CLI_SHOWN_MAX  80     /* bytes of user input echoed back in a message */
#define DNS_TTL_MAX    604800 /* one week, the usual cap of resolvers */
#define EXPIRY_TTL_MIN 60     /* below this a host would expire between two updates */
#define EXPIRY_TTL_MAX INT_MAX

/* The options a command accepts. */
enum {
	OPT_JSON = 1 << 0,
	OPT_USER = 1 << 1,
	OPT_TTLS = 1 << 2,
	OPT_RECONCILE = 1 << 3, /* --dry-run, --zone Z */
	OPT_IID = 1 << 4,
	OPT_NOTE = 1 << 5,
};

struct cli_args {
	char *pos[CLI_MAX_POS];
	int npos;
	bool json;
	const char *user;
	const char *dns_ttl; /* as given; NULL when absent */
	const char *expiry_ttl;
	bool dry_run;
	const char *zone;
	const char *ipv6_iid; /* as given; NULL when absent, "" clears */
	const char *note;
};

struct cli_ctx {
	const struct config *cfg;
	struct db *db;
	struct cli_args *a;
};

struct cli_cmd {
	const char *group, *verb; /* verb NULL: the group is the whole command */
	int npos;
	int opts;
	int (*run)(struct cli_ctx *c);
	const char *usage;
};

static int err_line(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "error: ..." as one line on stderr and returns `status`. */
static int
err_line(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* User input made safe to quote in a one-line message: control characters escaped,
 * long input cut. Returns buf. */
static const char *
shown(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (o >= CLI_SHOWN_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

/* The exit status and message for a storage failure that is not the operator's. */
static int
db_error(int rc, const char *what)
{
	return err_line(CLI_EXIT_INTERNAL, "%s: %s", what, err_str(rc));
}

/* ---- arguments ---- */

/* Parses "N" as an integer in [min, max]; no signs, spaces or suffixes. */
static int
parse_int(const char *s, long min, long max, int *out)
{
	char *end = NULL;
	long v;

	if (s[0] < '0' || s[0] > '9')
		return ERR_INVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return ERR_RANGE;
	*out = (int)v;
	return 0;
}

/* The value of "--name VALUE" or "--name=VALUE" at argv[*i]; NULL when not this option. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* Sorts argv into options and positionals per the command's rules. */
static int
parse_args(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a)
{
	char b[128];
	bool dashdash = false, missing = false;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *v;

		if (dashdash || argv[i][0] != '-' || argv[i][1] == '\0') {
			if (a->npos >= cmd->npos)
				return err_line(CLI_EXIT_USER, "too many arguments; usage: %s",
						cmd->usage);
			a->pos[a->npos++] = argv[i];
		} else if (strcmp(argv[i], "--") == 0) {
			dashdash = true;
		} else if ((cmd->opts & OPT_JSON) && strcmp(argv[i], "--json") == 0) {
			a->json = true;
		} else if ((cmd->opts & OPT_USER) &&
			   (v = opt_value(argc, argv, &i, "--user", &missing)) != NULL) {
			a->user = v;
		} else if ((cmd->opts & OPT_TTLS) &&
			   (v = opt_value(argc, argv, &i, "--dns-ttl", &missing)) != NULL) {
			a->dns_ttl = v;
		} else if ((cmd->opts & OPT_TTLS) &&
			   (v = opt_value(argc, argv, &i, "--expiry-ttl", &missing)) != NULL) {
			a->expiry_ttl = v;
		} else if ((cmd->opts & OPT_RECONCILE) && strcmp(argv[i], "--dry-run") == 0) {
			a->dry_run = true;
		} else if ((cmd->opts & OPT_RECONCILE) &&
			   (v = opt_value(argc, argv, &i, "--zone", &missing)) != NULL) {
			a->zone = v;
		} else if ((cmd->opts & OPT_IID) &&
			   (v = opt_value(argc, argv, &i, "--ipv6-iid", &missing)) != NULL) {
			a->ipv6_iid = v;
		} else if ((cmd->opts & OPT_NOTE) &&
			   (v = opt_value(argc, argv, &i, "--note", &missing)) != NULL) {
			a->note = v;
		} else {
			return err_line(CLI_EXIT_USER, "%s '%s'; usage: %s",
					missing ? "missing value for option" : "unknown option",
					shown(argv[i], b, sizeof(b)), cmd->usage);
		}
	}
	if (a->npos != cmd->npos)
		return err_line(CLI_EXIT_USER, "missing arguments; usage: %s", cmd->usage);
	return 0;
}

static int
check_username(const char *name)
{
	char b[128];

	if (auth_username_is_valid(name))
		return 0;
	return err_line(CLI_EXIT_USER, "invalid user name '%s' (1-%d characters of a-z 0-9 . _ -)",
			shown(name, b, sizeof(b)), AUTH_USERNAME_MAX);
}

/* A user's stored address (db_user.email) holds any address the rule accepts. */
_Static_assert(AUTH_EMAIL_MAX >= EMAIL_ADDRESS_MAX, "AUTH_EMAIL_MAX below EMAIL_ADDRESS_MAX");

static int
check_email(const char *email)
{
	char b[128];

	/* The one rule (email.h) that the config and the mailer apply too: what is
	 * stored here can be mailed to. */
	if (email_address_is_valid(email))
		return 0;
	return err_line(CLI_EXIT_USER, "invalid e-mail address '%s'", shown(email, b, sizeof(b)));
}

/* HOST and ZONE → their A-label forms and the FQDN (each HOSTNAME_MAX + 1 bytes). */
static int
check_host_zone(const char *host, const char *zone, char *h, char *z, char *fqdn)
{
	char b[128];
	int rc;

	if (hostname_normalize(host, h, HOSTNAME_MAX + 1) != 0)
		return err_line(CLI_EXIT_USER, "invalid hostname '%s'", shown(host, b, sizeof(b)));
	if (hostname_normalize(zone, z, HOSTNAME_MAX + 1) != 0 || !hostname_is_fqdn(z))
		return err_line(CLI_EXIT_USER,
				"invalid zone '%s' (a domain name of at least two labels)",
				shown(zone, b, sizeof(b)));
	rc = hostname_join(h, z, fqdn, HOSTNAME_MAX + 1);
	if (rc != 0)
		return err_line(CLI_EXIT_USER, "hostname '%s.%s' is longer than %d characters", h,
				z, HOSTNAME_MAX);
	return 0;
}

/* --dns-ttl / --expiry-ttl, when given, into *dns / *expiry (left alone otherwise). */
static int
check_ttls(const struct cli_args *a, int *dns, int *expiry)
{
	char b[128];

	if (a->dns_ttl != NULL && parse_int(a->dns_ttl, 1, DNS_TTL_MAX, dns) != 0)
		return err_line(CLI_EXIT_USER,
				"--dns-ttl must be an integer from 1 to %d, not '%s'", DNS_TTL_MAX,
				shown(a->dns_ttl, b, sizeof(b)));
	if (a->expiry_ttl != NULL && (parse_int(a->expiry_ttl, 0, EXPIRY_TTL_MAX, expiry) != 0 ||
				      (*expiry > 0 && *expiry < EXPIRY_TTL_MIN)))
		return err_line(CLI_EXIT_USER,
				"--expiry-ttl must be 0 (never expire) or at least %d seconds, "
				"not '%s'",
				EXPIRY_TTL_MIN, shown(a->expiry_ttl, b, sizeof(b)));
	return 0;
}

/* --ipv6-iid, when given, into iid (ADDR_STRLEN bytes) in canonical form: "" clears it;
 * else an IPv6 address whose last 64 bits are not all zero (the identifier completes a
 * router's prefix; an all-zero one would publish the network address itself). A whole
 * address of the host is fine: only its last 128 - nn bits are used. */
static int
check_iid(const struct cli_args *a, char *iid)
{
	char b[128];
	struct addr v;

	if (a->ipv6_iid == NULL || a->ipv6_iid[0] == '\0') {
		iid[0] = '\0';
		return 0;
	}
	if (addr_parse(a->ipv6_iid, &v) != 0 || v.family != AF_INET6)
		return err_line(CLI_EXIT_USER,
				"--ipv6-iid must be an IPv6 interface identifier such as "
				"::1234:5678:9abc:def0 (or \"\" for none), not '%s'",
				shown(a->ipv6_iid, b, sizeof(b)));
	if (addr_host_bits_zero(&v, 64))
		return err_line(CLI_EXIT_USER,
				"--ipv6-iid '%s': the interface identifier (the last 64 bits) is "
				"zero",
				shown(a->ipv6_iid, b, sizeof(b)));
	addr_format(&v, iid, ADDR_STRLEN);
	return 0;
}

/* ---- passwords ---- */

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

/* Reads one line from fd into pw (at most AUTH_PASSWORD_MAX bytes, newline dropped).
 * Byte by byte, so no stdio buffer keeps a copy we cannot wipe. */
static int
read_line(int fd, char *pw, size_t len)
{
	size_t n = 0;
	bool toolong = false;
	char ch;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR && !interrupted)
			continue;
		if (r < 0)
			return interrupted ? ERR_TIMEOUT : ERR_IO;
		if (r == 0 || ch == '\n')
			break;
		if (n + 1 < len)
			pw[n++] = ch;
		else
			toolong = true;
	}
	if (n > 0 && pw[n - 1] == '\r')
		n--;
	pw[n] = '\0';
	toolong = toolong || n > AUTH_PASSWORD_MAX;
	ch = 0;
	return toolong ? ERR_TOOBIG : 0;
}

/* Prompts on the terminal with echo off; the terminal is restored on every path,
 * including Ctrl-C (the signal only interrupts the read). */
static int
prompt_tty(int fd, const char *prompt, char *pw, size_t len)
{
	struct sigaction sa, old_int, old_term, old_hup;
	struct termios old, noecho;
	int rc;

	if (tcgetattr(fd, &old) != 0)
		return ERR_IO;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* Echo off before the prompt appears, so nothing typed after it is shown. */
	if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0 || write(fd, prompt, strlen(prompt)) < 0)
		rc = ERR_IO;
	else
		rc = read_line(fd, pw, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (interrupted && write(fd, "\n", 1) < 0)
		rc = ERR_IO;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return interrupted ? ERR_TIMEOUT : rc;
}

/* Twice on the terminal, which must agree. */
static int
password_from_tty(char *pw, size_t len)
{
	char again[AUTH_PASSWORD_MAX + 2];
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return err_line(CLI_EXIT_INTERNAL, "cannot open /dev/tty: %s", strerror(errno));
	rc = prompt_tty(fd, "Password: ", pw, len);
	if (rc == 0 && pw[0] != '\0')
		rc = prompt_tty(fd, "Retype password: ", again, sizeof(again));
	close(fd);
	if (rc == 0 && pw[0] != '\0' && strcmp(pw, again) != 0)
		rc = ERR_AUTH;
	explicit_bzero(again, sizeof(again));
	switch (rc) {
	case 0: return 0;
	case ERR_AUTH: return err_line(CLI_EXIT_USER, "passwords do not match");
	case ERR_TOOBIG:
		return err_line(CLI_EXIT_USER, "password longer than %d bytes", AUTH_PASSWORD_MAX);
	case ERR_TIMEOUT: return err_line(CLI_EXIT_USER, "interrupted");
	default: return err_line(CLI_EXIT_INTERNAL, "cannot read the password from the terminal");
	}
}

/* The new password: from the terminal when stdin is one, else the first line of stdin
 * (scripts). Never from argv. Returns an exit status; the caller wipes pw. */
static int
read_password(char *pw, size_t len)
{
	int rc;

	if (isatty(STDIN_FILENO))
		rc = password_from_tty(pw, len);
	else if ((rc = read_line(STDIN_FILENO, pw, len)) == ERR_TOOBIG)
		rc = err_line(CLI_EXIT_USER, "password longer than %d bytes", AUTH_PASSWORD_MAX);
	else if (rc != 0)
		rc = err_line(CLI_EXIT_INTERNAL, "cannot read the password from stdin");
	if (rc == 0 && pw[0] == '\0')
		rc = err_line(CLI_EXIT_USER, "empty password refused");
	return rc;
}

/* Reads a password and hashes it into phc (AUTH_PHC_MAX bytes). */
static int
new_password_hash(char *phc)
{
	char pw[AUTH_PASSWORD_MAX + 2];
	int rc = read_password(pw, sizeof(pw));

	if (rc == 0 && (rc = auth_hash(pw, phc, AUTH_PHC_MAX)) != 0)
		rc = err_line(CLI_EXIT_INTERNAL, "cannot hash the password: %s", err_str(rc));
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* ---- output ---- */

/* ISO 8601 UTC ("2024-05-01T12:00:00Z") of a unix time; "-" for 0 (never). */
static const char *
iso_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

/* Display width of UTF-8 text: one column per character (no wide-character table). */
static size_t
text_width(const char *s)
{
	return utf8_count(s, strlen(s));
}

/* A table is printed in two passes over the same cell function: widths, then text. */
typedef void (*cell_fn)(const void *row, int col, char *buf, size_t len);

static void
print_table(const char *const *head, int ncols, const void *rows, size_t nrows, size_t size,
	    cell_fn cell)
{
	size_t width[16] = {0};
	char buf[HOSTNAME_MAX + 64];

	for (int c = 0; c < ncols; c++)
		width[c] = text_width(head[c]);
	for (size_t r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++) {
			cell((const char *)rows + r * size, c, buf, sizeof(buf));
			if (text_width(buf) > width[c])
				width[c] = text_width(buf);
		}
	for (size_t r = 0; r <= nrows; r++) {
		for (int c = 0; c < ncols; c++) {
			const char *t = buf;

			if (r == 0)
				t = head[c];
			else
				cell((const char *)rows + (r - 1) * size, c, buf, sizeof(buf));
			if (c == ncols - 1)
				fputs(t, stdout);
			else
				printf("%s%*s", t, (int)(width[c] - text_width(t) + 2), "");
		}
		putchar('\n');
	}
}

static json_t *
json_time(int64_t t)
{
	char buf[32];

	return t == 0 ? json_null() : json_string(iso_time(t, buf, sizeof(buf)));
}

static json_t *
json_str_or_null(const char *s)
{
	return s[0] == '\0' ? json_null() : json_string(s);
}

/* Prints a JSON document and frees it; 2 when it could not be built or written. */
static int
print_json(json_t *doc)
{
	int rc;

	if (doc == NULL)
		return err_line(CLI_EXIT_INTERNAL, "out of memory building JSON");
	rc = json_dumpf(doc, stdout, JSON_INDENT(2));
	json_decref(doc);
	if (rc != 0 || putchar('\n') == EOF)
		return err_line(CLI_EXIT_INTERNAL, "cannot write the output");
	return 0;
}

/* ---- users ---- */

static void
user_cell(const void *row, int col, char *buf, size_t len)
{
	const struct db_user *u = row;

	switch (col) {
	case 0: snprintf(buf, len, "%s", u->name); break;
	case 1: snprintf(buf, len, "%s", u->email); break;
	default: iso_time(u->created, buf, len); break;
	}
}

static json_t *
user_json(const struct db_user *u)
{
	return json_pack("{s:s, s:s, s:o}", "name", u->name, "email", u->email, "created",
			 json_time(u->created));
}

static int
cmd_user_list(struct cli_ctx *c)
{
	static const char *const head[] = {"NAME", "EMAIL", "CREATED"};
	struct db_user *users = NULL;
	size_t len = 0;
	json_t *arr;
	int rc = db_user_list(c->db, &users, &len);

	if (rc != 0)
		return db_error(rc, "cannot list users");
	if (!c->a->json) {
		print_table(head, 3, users, len, sizeof(*users), user_cell);
		free(users);
		return 0;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < len; i++)
		if (json_array_append_new(arr, user_json(&users[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	free(users);
	return print_json(arr);
}

static int
no_such_user(const char *name)
{
	return err_line(CLI_EXIT_USER, "no such user '%s'", name);
}

static int
cmd_user_add(struct cli_ctx *c)
{
	struct db_user u;
	int rc;

	memset(&u, 0, sizeof(u));
	if ((rc = check_username(c->a->pos[0])) != 0 || (rc = check_email(c->a->pos[1])) != 0)
		return rc;
	/* Ask before prompting: nobody should type a password twice for nothing. */
	rc = db_user_get(c->db, c->a->pos[0], &u);
	if (rc == 0)
		return err_line(CLI_EXIT_USER, "user '%s' already exists", c->a->pos[0]);
	if (rc != ERR_NOTFOUND)
		return db_error(rc, "cannot read users");
	snprintf(u.name, sizeof(u.name), "%s", c->a->pos[0]);
	snprintf(u.email, sizeof(u.email), "%s", c->a->pos[1]);
	if ((rc = new_password_hash(u.pw_hash)) != 0)
		return rc;
	rc = db_user_add(c->db, &u);
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	if (rc == ERR_EXISTS)
		return err_line(CLI_EXIT_USER, "user '%s' already exists", u.name);
	if (rc != 0)
		return db_error(rc, "cannot add the user");
	printf("user '%s' added\n", u.name);
	return 0;
}

static int
busy_user(const char *name, size_t hosts)
{
	if (hosts == 0)
		return err_line(CLI_EXIT_USER, "user '%s' owns hostnames; delete them first", name);
	return err_line(CLI_EXIT_USER, "user '%s' owns %zu hostname%s; delete them first", name,
			hosts, hosts == 1 ? "" : "s");
}

static int
cmd_user_delete(struct cli_ctx *c)
{
	const char *name = c->a->pos[0];
	struct db_host *hosts = NULL;
	struct db_user u;
	size_t n = 0;
	int rc;

	if ((rc = check_username(name)) != 0)
		return rc;
	rc = db_user_get(c->db, name, &u);
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	if (rc == ERR_NOTFOUND)
		return no_such_user(name);
	if (rc == 0)
		rc = db_host_list(c->db, name, &hosts, &n);
	free(hosts);
	if (rc != 0)
		return db_error(rc, "cannot read the user");
	if (n > 0)
		return busy_user(name, n);
	rc = db_user_delete(c->db, name);
	if (rc == ERR_BUSY) /* a host was added meanwhile */
		return busy_user(name, 0);
	if (rc == ERR_NOTFOUND)
		return no_such_user(name);
	if (rc != 0)
		return db_error(rc, "cannot delete the user");
	printf("user '%s' deleted\n", name);
	return 0;
}

static int
cmd_user_passwd(struct cli_ctx *c)
{
	const char *name = c->a->pos[0];
	char phc[AUTH_PHC_MAX];
	struct db_user u;
	int rc;

	if ((rc = check_username(name)) != 0)
		return rc;
	rc = db_user_get(c->db, name, &u);
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	if (rc == ERR_NOTFOUND)
		return no_such_user(name);
	if (rc != 0)
		return db_error(rc, "cannot read the user");
	if ((rc = new_password_hash(phc)) != 0)
		return rc;
	rc = db_user_set_password(c->db, name, phc);
	explicit_bzero(phc, sizeof(phc));
	if (rc == ERR_NOTFOUND)
		return no_such_user(name);
	if (rc != 0)
		return db_error(rc, "cannot change the password");
	printf("password of user '%s' changed\n", name);
	return 0;
}

static int
cmd_user_email(struct cli_ctx *c)
{
	const char *name = c->a->pos[0];
	int rc;

	if ((rc = check_username(name)) != 0 || (rc = check_email(c->a->pos[1])) != 0)
		return rc;
	rc = db_user_set_email(c->db, name, c->a->pos[1]);
	if (rc == ERR_NOTFOUND)
		return no_such_user(name);
	if (rc != 0)
		return db_error(rc, "cannot change the e-mail address");
	printf("e-mail address of user '%s' changed\n", name);
	return 0;
}

/* ---- hostnames ---- */

static bool
is_live(const struct db_rr *rr)
{
	return rr->ip[0] != '\0' && !rr->expired;
}

static void
rr_cell(const struct db_rr *rr, char *buf, size_t len)
{
	if (rr->ip[0] == '\0')
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s%s", rr->ip,
			 rr->offline   ? " (offline)"
			 : rr->expired ? " (expired)"
				       : "");
}

static void
host_cell(const void *row, int col, char *buf, size_t len)
{
	const struct db_host *h = row;

	switch (col) {
	case 0: snprintf(buf, len, "%s", h->fqdn); break;
	case 1: snprintf(buf, len, "%s", h->owner); break;
	case 2: snprintf(buf, len, "%d", h->dns_ttl); break;
	case 3: snprintf(buf, len, "%d", h->expiry_ttl); break;
	case 4: rr_cell(&h->v4, buf, len); break;
	case 5: iso_time(h->v4.updated, buf, len); break;
	case 6: rr_cell(&h->v6, buf, len); break;
	case 7: iso_time(h->v6.updated, buf, len); break;
	default: snprintf(buf, len, "%s", h->ipv6_iid[0] ? h->ipv6_iid : "-"); break;
	}
}

static json_t *
host_json(const struct db_host *h)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:b, s:o, s:o, s:b, s:o}",
			      "fqdn", h->fqdn, "hostname", h->hostname, "zone", h->zone, "owner",
			      h->owner, "dns_ttl", h->dns_ttl, "expiry_ttl", h->expiry_ttl, "ipv4",
			      json_str_or_null(h->v4.ip), "ipv4_updated", json_time(h->v4.updated),
			      "ipv4_expired", h->v4.expired, "ipv6", json_str_or_null(h->v6.ip),
			      "ipv6_updated", json_time(h->v6.updated), "ipv6_expired",
			      h->v6.expired, "created", json_time(h->created));

	/* An offline family is also expired (deleted); *_offline says why. */
	if (o != NULL &&
	    (json_object_set_new(o, "ipv4_offline", json_boolean(h->v4.offline)) != 0 ||
	     json_object_set_new(o, "ipv6_offline", json_boolean(h->v6.offline)) != 0 ||
	     json_object_set_new(o, "ipv6_iid", json_str_or_null(h->ipv6_iid)) != 0)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int
print_hosts(const struct db_host *hosts, size_t len, bool json)
{
	static const char *const head[] = {"FQDN",	 "OWNER",	 "DNS_TTL",
					   "EXPIRY_TTL", "IPV4",	 "IPV4_UPDATED",
					   "IPV6",	 "IPV6_UPDATED", "IPV6_IID"};
	json_t *arr;

	if (!json) {
		print_table(head, 9, hosts, len, sizeof(*hosts), host_cell);
		return 0;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < len; i++)
		if (json_array_append_new(arr, host_json(&hosts[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	return print_json(arr);
}

/* The --user filter of a listing: a valid name of an existing user; 0 or the exit
 * status of the error line printed. */
static int
check_user_exists(struct cli_ctx *c, const char *user)
{
	struct db_user u;
	int rc = check_username(user);

	if (rc != 0)
		return rc;
	rc = db_user_get(c->db, user, &u);
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	if (rc == ERR_NOTFOUND)
		return no_such_user(user);
	return rc != 0 ? db_error(rc, "cannot read the user") : 0;
}

static int
cmd_host_list(struct cli_ctx *c)
{
	const char *user = c->a->user;
	struct db_host *hosts = NULL;
	size_t len = 0;
	int rc;

	if (user != NULL && (rc = check_user_exists(c, user)) != 0)
		return rc;
	if ((rc = db_host_list(c->db, user, &hosts, &len)) != 0)
		return db_error(rc, "cannot list hostnames");
	rc = print_hosts(hosts, len, c->a->json);
	free(hosts);
	return rc;
}

static int
cmd_host_add(struct cli_ctx *c)
{
	struct db_host h;
	int rc;

	memset(&h, 0, sizeof(h));
	h.dns_ttl = c->cfg->defaults.dns_ttl;
	h.expiry_ttl = c->cfg->defaults.expiry_ttl;
	if ((rc = check_username(c->a->pos[0])) != 0 ||
	    (rc = check_host_zone(c->a->pos[1], c->a->pos[2], h.hostname, h.zone, h.fqdn)) != 0 ||
	    (rc = check_ttls(c->a, &h.dns_ttl, &h.expiry_ttl)) != 0 ||
	    (rc = check_iid(c->a, h.ipv6_iid)) != 0)
		return rc;
	snprintf(h.owner, sizeof(h.owner), "%s", c->a->pos[0]);
	rc = db_host_add(c->db, &h);
	if (rc == ERR_NOTFOUND)
		return no_such_user(h.owner);
	if (rc == ERR_EXISTS)
		return err_line(CLI_EXIT_USER, "hostname '%s' already exists", h.fqdn);
	if (rc != 0)
		return db_error(rc, "cannot add the hostname");
	printf("hostname '%s' added for user '%s'\n", h.fqdn, h.owner);
	return 0;
}

/* Looks up HOST ZONE (positionals 0 and 1) into *h. */
static int
lock_host(struct cli_ctx *c, struct db_host *h)
{
	char host[HOSTNAME_MAX + 1], zone[HOSTNAME_MAX + 1], fqdn[HOSTNAME_MAX + 1];
	int rc = check_host_zone(c->a->pos[0], c->a->pos[1], host, zone, fqdn);

	if (rc != 0)
		return rc;
	/* The same per-host lock as the daemon's updates and expiry passes: the DNS
	 * change and the row change below are one step for them. */
	rc = db_host_lock(c->db, fqdn, h);
	if (rc == ERR_NOTFOUND)
		return err_line(CLI_EXIT_USER, "no such hostname '%s'", fqdn);
	if (rc != 0)
		return db_error(rc, "cannot read the hostname");
	return 0;
}

/* Sends one UPDATE for h's name to the configured server with the zone's key. */
static int
send_change(const struct config *cfg, const struct dns_change *ch, struct dns_result *res)
{
	struct dns_server srv;
	const struct tsig_key *key = config_dns_server(cfg, ch->zone, &srv);

	return dns_update(&srv, key, ch, res);
}

/* Ends the host's critical section after a failed UPDATE: the host stays uncertain
 * (its next holder republishes it) when DNS may have applied the change anyway (no
 * answer, or one we could not trust) or was not known to be right before. */
static void
rollback_after_dns(struct db *db, const struct dns_result *res, const struct db_host *h)
{
	if (h->uncertain || res->maybe_applied)
		(void)db_rollback_uncertain(db);
	else
		(void)db_rollback(db);
}

static int
dns_failed(int rc, const struct dns_result *res, const char *consequence)
{
	return err_line(CLI_EXIT_USER, "DNS update failed: %s; %s",
			res->msg[0] != '\0' ? res->msg : err_str(rc), consequence);
}

/* Clears the TXT records of h's ACME challenge name when the database records values
 * there (a host that never used ACME costs no DNS exchange); the whole RRset goes, so
 * that also a value whose record was lost leaves with the host. */
static int
clear_challenges(struct cli_ctx *c, const struct db_host *h, struct dns_result *res)
{
	struct dns_change ch;
	int64_t n = 0;
	int rc = db_acme_count(c->db, h->id, &n);

	if (rc != 0)
		return db_error(rc, "cannot read the hostname's ACME challenge values");
	if (n == 0)
		return 0;
	memset(res, 0, sizeof(*res));
	rc = acme_txt_change(h->fqdn, h->zone, DNS_TXT_CLEAR, NULL, 0, &ch);
	if (rc == 0)
		rc = send_change(c->cfg, &ch, res);
	return rc == 0 ? 0 : dns_failed(rc, res, "hostname kept");
}

static int
cmd_host_delete(struct cli_ctx *c)
{
	struct dns_change ch;
	struct dns_result res;
	struct db_host h;
	int rc;

	if ((rc = lock_host(c, &h)) != 0)
		return rc;
	/* The challenge values first: should the address delete fail afterwards, they are
	 * gone from DNS but not the host, and the next attempt clears them again. */
	memset(&res, 0, sizeof(res));
	if ((rc = clear_challenges(c, &h, &res)) != 0) {
		rollback_after_dns(c->db, &res, &h);
		return rc;
	}
	/* The record is what users see; a host without live records needs no update,
	 * unless an update of it was cut short (uncertain): DNS may serve one anyway. */
	if (is_live(&h.v4) || is_live(&h.v6) || h.uncertain) {
		update_host_change(&h, &ch);
		ch.v4 = DNS_DELETE;
		ch.v6 = DNS_DELETE;
		memset(&res, 0, sizeof(res));
		if ((rc = send_change(c->cfg, &ch, &res)) != 0) {
			rollback_after_dns(c->db, &res, &h);
			return dns_failed(rc, &res, "hostname kept");
		}
	}
	/* Its ACME challenge values go with the row (the schema's ON DELETE CASCADE). */
	rc = db_host_delete(c->db, h.fqdn);
	rc = rc == 0 ? db_commit(c->db) : (db_rollback(c->db), rc);
	if (rc == ERR_NOTFOUND)
		return err_line(CLI_EXIT_USER, "no such hostname '%s'", h.fqdn);
	if (rc != 0)
		return db_error(rc, "cannot delete the hostname");
	printf("hostname '%s' deleted\n", h.fqdn);
	return 0;
}

/* Re-publishes h's state (live records set, the others deleted) with the TTL `ttl`. */
static int
republish(const struct config *cfg, const struct db_host *h, int ttl, struct dns_result *res)
{
	struct dns_change ch;

	update_host_change(h, &ch);
	update_republish(h, &ch);
	ch.ttl = ttl;
	memset(res, 0, sizeof(*res));
	return send_change(cfg, &ch, res);
}

/* What `hostname modify` changed, for its one line of output. */
static void
print_modified(const struct db_host *h, int dns_ttl, int expiry_ttl, const char *iid,
	       bool iid_given)
{
	printf("hostname '%s' modified (dns_ttl %d, expiry_ttl %d", h->fqdn, dns_ttl, expiry_ttl);
	if (iid_given)
		printf(", ipv6_iid %s", iid[0] ? iid : "none");
	printf(")\n");
}

static int
cmd_host_modify(struct cli_ctx *c)
{
	struct dns_result res;
	struct db_host h;
	char iid[ADDR_STRLEN];
	int dns_ttl, expiry_ttl, rc;

	if (c->a->dns_ttl == NULL && c->a->expiry_ttl == NULL && c->a->ipv6_iid == NULL)
		return err_line(CLI_EXIT_USER, "nothing to modify; give --dns-ttl, --expiry-ttl "
					       "and/or --ipv6-iid");
	if ((rc = check_iid(c->a, iid)) != 0 || (rc = lock_host(c, &h)) != 0)
		return rc;
	dns_ttl = h.dns_ttl;
	expiry_ttl = h.expiry_ttl;
	if ((rc = check_ttls(c->a, &dns_ttl, &expiry_ttl)) != 0) {
		(void)(h.uncertain ? db_rollback_uncertain(c->db) : db_rollback(c->db));
		return rc;
	}
	/* DNS first: if the server refuses, the database keeps the TTL it serves. A new
	 * identifier needs no DNS now: the AAAA is the router's prefix and the
	 * identifier, and the router's next update publishes the new combination. An
	 * uncertain host (an update cut short) is republished whatever changed. */
	if (((dns_ttl != h.dns_ttl && (is_live(&h.v4) || is_live(&h.v6))) || h.uncertain) &&
	    (rc = republish(c->cfg, &h, dns_ttl, &res)) != 0) {
		rollback_after_dns(c->db, &res, &h);
		return dns_failed(rc, &res, "hostname not modified");
	}
	rc = db_host_set_ttls(c->db, h.fqdn, dns_ttl, expiry_ttl);
	if (rc == 0 && c->a->ipv6_iid != NULL)
		rc = db_host_set_iid(c->db, h.fqdn, iid);
	rc = rc == 0 ? db_commit(c->db) : (db_rollback(c->db), rc);
	if (rc == ERR_NOTFOUND)
		return err_line(CLI_EXIT_USER, "no such hostname '%s'", h.fqdn);
	if (rc != 0)
		return db_error(rc, "cannot modify the hostname");
	print_modified(&h, dns_ttl, expiry_ttl, iid, c->a->ipv6_iid != NULL);
	return 0;
}

/* ---- tokens ---- */

/* --note: printable UTF-8 of at most DB_TOKEN_NOTE_MAX bytes (it ends up in a table). */
static int
check_note(const char *note)
{
	size_t n = strlen(note);

	if (n > DB_TOKEN_NOTE_MAX)
		return err_line(CLI_EXIT_USER, "--note is longer than %d bytes", DB_TOKEN_NOTE_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)note[i] < 0x20 || note[i] == 0x7f)
			return err_line(CLI_EXIT_USER,
					"--note must not contain control characters");
	if (!utf8_is_valid(note, n))
		return err_line(CLI_EXIT_USER, "--note is not valid UTF-8");
	return 0;
}

/* Makes a token for HOST ZONE and prints it alone on the first line (scripts capture
 * it): the only time it is shown, since only its hash is stored. */
static int
cmd_token_add(struct cli_ctx *c)
{
	char host[HOSTNAME_MAX + 1], zone[HOSTNAME_MAX + 1], secret[TOKEN_LEN + 1];
	struct db_token t;
	int64_t id = 0;
	int rc;

	memset(&t, 0, sizeof(t));
	if ((rc = check_host_zone(c->a->pos[0], c->a->pos[1], host, zone, t.fqdn)) != 0 ||
	    (c->a->note != NULL && (rc = check_note(c->a->note)) != 0))
		return rc;
	snprintf(t.note, sizeof(t.note), "%s", c->a->note ? c->a->note : "");
	if (token_generate(secret, sizeof(secret)) != 0 ||
	    token_hash(secret, t.hash, sizeof(t.hash)) != 0) {
		explicit_bzero(secret, sizeof(secret));
		return err_line(CLI_EXIT_INTERNAL, "cannot make a token: no randomness or hash");
	}
	rc = db_token_add(c->db, &t, &id);
	if (rc == 0) {
		printf("%s\n", secret);
		printf("token %lld added for '%s'; it is shown only this once\n", (long long)id,
		       t.fqdn);
	}
	explicit_bzero(secret, sizeof(secret));
	if (rc == ERR_NOTFOUND)
		return err_line(CLI_EXIT_USER, "no such hostname '%s'", t.fqdn);
	if (rc != 0)
		return db_error(rc, "cannot add the token");
	return 0;
}

static void
token_cell(const void *row, int col, char *buf, size_t len)
{
	const struct db_token *t = row;

	switch (col) {
	case 0: snprintf(buf, len, "%lld", (long long)t->id); break;
	case 1: snprintf(buf, len, "%s", t->fqdn); break;
	case 2: snprintf(buf, len, "%s", t->owner); break;
	case 3: iso_time(t->created, buf, len); break;
	default: snprintf(buf, len, "%s", t->note[0] ? t->note : "-"); break;
	}
}

static json_t *
token_json(const struct db_token *t)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)t->id, "fqdn", t->fqdn,
			 "owner", t->owner, "note", t->note, "created", json_time(t->created));
}

static int
print_tokens(const struct db_token *tokens, size_t len, bool json)
{
	static const char *const head[] = {"ID", "FQDN", "OWNER", "CREATED", "NOTE"};
	json_t *arr;

	if (!json) {
		print_table(head, 5, tokens, len, sizeof(*tokens), token_cell);
		return 0;
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < len; i++)
		if (json_array_append_new(arr, token_json(&tokens[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	return print_json(arr);
}

/* The tokens (never their secrets: only hashes are stored), of one user's hosts with
 * --user. */
static int
cmd_token_list(struct cli_ctx *c)
{
	const char *user = c->a->user;
	struct db_token *tokens = NULL;
	size_t len = 0;
	int rc;

	if (user != NULL && (rc = check_user_exists(c, user)) != 0)
		return rc;
	if ((rc = db_token_list(c->db, user, &tokens, &len)) != 0)
		return db_error(rc, "cannot list tokens");
	rc = print_tokens(tokens, len, c->a->json);
	free(tokens);
	return rc;
}

static int
cmd_token_delete(struct cli_ctx *c)
{
	char b[128];
	char *end = NULL;
	long long id;
	int rc;

	errno = 0;
	id = strtoll(c->a->pos[0], &end, 10);
	if (c->a->pos[0][0] < '0' || c->a->pos[0][0] > '9' || errno != 0 || *end != '\0' || id <= 0)
		return err_line(CLI_EXIT_USER, "invalid token id '%s' (a number from token list)",
				shown(c->a->pos[0], b, sizeof(b)));
	rc = db_token_delete(c->db, (int64_t)id);
	if (rc == ERR_NOTFOUND)
		return err_line(CLI_EXIT_USER, "no such token %lld", id);
	if (rc != 0)
		return db_error(rc, "cannot delete the token");
	printf("token %lld deleted\n", id);
	return 0;
}

/* How long `cleanup` waits for its expiry mails to be sent before exiting. */
#define CLI_MAIL_DRAIN_MS 15000

/* An expired host: its owner gets the expiry mail (the address came with the row). */
static void
cleanup_notify(void *arg, const struct db_host *h, int families)
{
	notify_expiry(arg, h->owner_email, h, families);
}

/* One expiry pass, as the daemon runs it every cleanup_interval; prints what expired. */
static int
cmd_cleanup(struct cli_ctx *c)
{
	struct notify *notify = NULL;
	struct expiry_stats st;
	char err[512] = "";
	int rc;

	if (notify_open(c->cfg, NULL, &notify, err, sizeof(err)) != 0)
		return err_line(CLI_EXIT_USER, "%s", err);
	rc = expiry_run(c->cfg, c->db, (int64_t)time(NULL), cleanup_notify, notify, stdout, &st);
	fflush(stdout);
	notify_close(notify, CLI_MAIL_DRAIN_MS);
	if (rc != 0)
		return db_error(rc, "the expiry pass failed");
	if (st.repair_failures)
		fprintf(stderr,
			"warning: %zu host(s) cut short between DNS and the database could not be "
			"republished; the next update or pass does it\n",
			st.repair_failures);
	if (st.dns_failures)
		return err_line(CLI_EXIT_INTERNAL,
				"%zu host(s) could not be deleted from DNS; they stay due for the "
				"next pass",
				st.dns_failures);
	return 0;
}

/* Compares every host's records in DNS with the database and repairs the drift (see
 * reconcile.h); the changes on stdout, a summary on stderr. Exit 0: nothing left in
 * drift; 1: drift remains (always after a dry run that found some); 2: the DNS server
 * or the database could not be reached. */
static int
cmd_reconcile(struct cli_ctx *c)
{
	char zone[HOSTNAME_MAX + 1], b[128];
	struct reconcile_opts o = {.dry_run = c->a->dry_run, .json = c->a->json, .report = stdout};
	struct reconcile_stats st;
	enum reconcile_result res;

	if (c->a->zone != NULL) {
		if (hostname_normalize(c->a->zone, zone, sizeof(zone)) != 0 ||
		    !hostname_is_fqdn(zone))
			return err_line(CLI_EXIT_USER, "invalid zone '%s'",
					shown(c->a->zone, b, sizeof(b)));
		o.zone = zone;
	}
	res = reconcile_run(c->cfg, &o, &st);
	fflush(stdout);
	fprintf(stderr, "reconcile: %zu host%s checked, %zu in drift, %zu %s, %zu failed\n",
		st.hosts, st.hosts == 1 ? "" : "s", st.drift, o.dry_run ? 0 : st.repaired,
		o.dry_run ? "repaired (dry run)" : "repaired", st.failed);
	if (res == RECONCILE_UNREACHABLE)
		return err_line(CLI_EXIT_INTERNAL,
				"the DNS server or the database could not be reached");
	return res == RECONCILE_DRIFT ? CLI_EXIT_USER : 0;
}

/* ---- dispatch ---- */

static const struct cli_cmd commands[] = {
	{"user", "list", 0, OPT_JSON, cmd_user_list, "user list [--json]"},
	{"user", "add", 2, 0, cmd_user_add, "user add NAME EMAIL"},
	{"user", "delete", 1, 0, cmd_user_delete, "user delete NAME"},
	{"user", "passwd", 1, 0, cmd_user_passwd, "user passwd NAME"},
	{"user", "email", 2, 0, cmd_user_email, "user email NAME EMAIL"},
	{"hostname", "list", 0, OPT_USER | OPT_JSON, cmd_host_list,
	 "hostname list [--user NAME] [--json]"},
	{"hostname", "add", 3, OPT_TTLS | OPT_IID, cmd_host_add,
	 "hostname add USER HOST ZONE [--dns-ttl N] [--expiry-ttl N] [--ipv6-iid IID]"},
	{"hostname", "modify", 2, OPT_TTLS | OPT_IID, cmd_host_modify,
	 "hostname modify HOST ZONE [--dns-ttl N] [--expiry-ttl N] [--ipv6-iid IID]"},
	{"hostname", "delete", 2, 0, cmd_host_delete, "hostname delete HOST ZONE"},
	{"token", "list", 0, OPT_USER | OPT_JSON, cmd_token_list,
	 "token list [--user NAME] [--json]"},
	{"token", "add", 2, OPT_NOTE, cmd_token_add, "token add HOST ZONE [--note TEXT]"},
	{"token", "delete", 1, 0, cmd_token_delete, "token delete ID"},
	{"cleanup", NULL, 0, 0, cmd_cleanup, "cleanup"},
	{"reconcile", NULL, 0, OPT_RECONCILE | OPT_JSON, cmd_reconcile,
	 "reconcile [--dry-run] [--zone ZONE] [--json]"},
};

void
cli_usage(FILE *f)
{
	fputs("usage: ddns-service [-c|--config PATH] [--debug] --init-db\n"
	      "       ddns-service [-c PATH] [--debug] --daemon\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "       ddns-service [-c PATH] %s\n", commands[i].usage);
	fputs("       ddns-service --version | --help\n"
	      "The configuration is read from -c PATH, else $DDNS_SERVICE_CONFIG, "
	      "else " DDNS_DEFAULT_CONFIG ".\n"
	      "Passwords are prompted for on a terminal, else read as one line from stdin.\n"
	      "Exit status: 0 success, 1 user error, 2 internal or environment error.\n",
	      f);
}

/* The command named by argv, and how many words named it; NULL when unknown. */
static const struct cli_cmd *
find_command(int argc, char **argv, int *words)
{
	bool group_known = false;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cli_cmd *cmd = &commands[i];

		if (strcmp(argv[0], cmd->group) != 0)
			continue;
		group_known = true;
		if (cmd->verb == NULL) {
			*words = 1;
			return cmd;
		}
		if (argc > 1 && strcmp(argv[1], cmd->verb) == 0) {
			*words = 2;
			return cmd;
		}
	}
	*words = group_known ? 1 : 0;
	return NULL;
}

/* Opens the database (migrating it); the status to exit with on failure. */
static int
open_db(const struct config *cfg, struct db **db)
{
	int rc = db_open(cfg, db);

	if (rc == 0)
		return 0;
	/* db_open has logged the details (path, SQLite's reason, migration step). */
	return err_line(rc == ERR_INVAL ? CLI_EXIT_USER : CLI_EXIT_INTERNAL,
			"cannot open the database: %s", err_str(rc));
}

int
cli_run(const struct config *cfg, int argc, char **argv)
{
	struct cli_args a;
	struct cli_ctx c = {cfg, NULL, &a};
	const struct cli_cmd *cmd;
	char b[128];
	int words = 0, rc;

	if (argc < 1)
		return err_line(CLI_EXIT_USER, "no command given (try --help)");
	cmd = find_command(argc, argv, &words);
	if (cmd == NULL && words == 1 && argc == 1)
		return err_line(CLI_EXIT_USER, "missing %s command (try --help)", argv[0]);
	if (cmd == NULL && words == 1)
		return err_line(CLI_EXIT_USER, "unknown %s command '%s' (try --help)", argv[0],
				shown(argv[1], b, sizeof(b)));
	if (cmd == NULL)
		return err_line(CLI_EXIT_USER, "unknown command '%s' (try --help)",
				shown(argv[0], b, sizeof(b)));
	if ((rc = parse_args(cmd, argc - words, argv + words, &a)) != 0)
		return rc;
	if ((rc = open_db(cfg, &c.db)) != 0)
		return rc;
	rc = cmd->run(&c);
	db_close(c.db);
	return rc;
}

int
cli_init_db(const struct config *cfg)
{
	struct db *db = NULL;
	int version = 0, rc;

	if ((rc = open_db(cfg, &db)) != 0)
		return rc;
	rc = db_schema_version(db, &version);
	db_close(db);
	if (rc != 0)
		return db_error(rc, "cannot read the schema version");
	printf("database ready (schema version %d)\n", version);
	return 0;
}
