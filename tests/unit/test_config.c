/* SPDX-License-Identifier: MIT */
/* Unit tests of config.toml parsing: the seed's defaults, the exact "PATH:LINE: key:
 * message" of every error class, TSIG key files, zone keys, endpoints and the example. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "build_config.h"

#include "config.h"
#include "dns.h"
#include "err.h"
#include "tap.h"

static char tmpdir[256];

static const char *
tpath(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

static int
parse(const char *text, struct config **cfg, struct config_error *err)
{
	return config_parse(text, strlen(text), "t.toml", cfg, err);
}

/* expect_error: `text` must fail with ERR_INVAL and exactly `want`. */
static void
expect_error(const char *text, const char *want, const char *name)
{
	struct config *cfg = NULL;
	struct config_error err;
	int rc = parse(text, &cfg, &err);

	ok(rc == ERR_INVAL && cfg == NULL, "%s: refused", name);
	is_str(err.msg, want, name);
	config_free(cfg);
}

#define DB "[database]\npath = \"/tmp/ddns.db\"\n"

static void test_defaults_mail_limits(const struct config *c);

static void
test_defaults_acme(const struct config *c)
{
	ok(!c->acme.enabled, "acme.enabled false");
	is_str(c->acme.path, "/acme", "acme.path");
	is_int(c->acme.txt_ttl, 60, "acme.txt_ttl");
	is_int(c->acme.max_age, 3600, "acme.max_age");
}

static void
test_defaults(void)
{
	struct config *c = NULL;
	struct config_error err;

	/* The seed names no default for database.path: even an empty file must set it. */
	expect_error("", "t.toml:1: database.path: required when database.backend = \"sqlite\"",
		     "empty file needs database.path");
	is_int(parse(DB, &c, &err), 0, "a file with only database.path parses");
	if (c == NULL) {
		diag("%s", err.msg);
		return;
	}
	is_str(c->path, "t.toml", "path kept");
	is_str(c->daemon.host, "localhost", "daemon.host");
	is_int(c->daemon.port, 8443, "daemon.port");
	is_int(c->daemon.log.level, LOG_LVL_INFO, "daemon.log_level");
	is_int(c->daemon.log.target, LOG_TARGET_STDOUT, "daemon.log_target");
	is_str(c->daemon.log.syslog_socket, "/dev/log", "daemon.syslog_socket");
	is_int(c->daemon.log.syslog_facility, LOG_DAEMON, "daemon.syslog_facility");
	is_str(c->daemon.log.file, "/var/log/ddns-service/ddns-service.log", "daemon.log_file");
	is_int(c->daemon.log.file_size, 52428800, "daemon.log_file_size");
	is_int(c->daemon.log.versions, 5, "daemon.log_versions");
	ok(!c->daemon.log_requests, "daemon.log_requests false");
	ok(!c->daemon.ssl, "daemon.ssl false");
	ok(c->daemon.ssl_cert_file == NULL && c->daemon.ssl_key_file == NULL, "no ssl files");
	is_str(c->daemon.proxy_header, "", "daemon.proxy_header empty");
	is_int(c->daemon.trusted_proxies.len, 0, "daemon.trusted_proxies empty");
	ok(c->daemon.allow_private_addresses, "daemon.allow_private_addresses true");
	is_int(c->daemon.credential_cache_ttl, 600, "daemon.credential_cache_ttl");
	is_int(c->daemon.credential_cache_size, 100000, "daemon.credential_cache_size");
	is_int(c->database.backend, DB_BACKEND_SQLITE, "database.backend");
	is_str(c->database.path, "/tmp/ddns.db", "database.path");
	is_int(c->database.port, 3306, "database.port");
	ok(c->database.host == NULL && c->database.socket == NULL && c->database.user == NULL &&
		   c->database.password == NULL && c->database.name == NULL,
	   "mariadb keys unset");
	is_str(c->dns.dns_server, "127.0.0.1", "dns_service.dns_server");
	is_int(c->dns.dns_port, 53, "dns_service.dns_port");
	is_int(c->dns.dns_timeout, 5, "dns_service.dns_timeout");
	ok(c->dns.ddns_default_key_file == NULL && !c->dns.has_default_key, "no default key");
	is_int(c->dns.cleanup_interval, 60, "dns_service.cleanup_interval");
	is_int(c->dns.zone_keys_len, 0, "no zone keys");
	is_int(c->defaults.dns_ttl, 60, "defaults.dns_ttl");
	is_int(c->defaults.expiry_ttl, 3600, "defaults.expiry_ttl");
	test_defaults_mail_limits(c);
	config_free(c);
}

/* The defaults of [email] and [rate_limit] (test_defaults' second half). */
static void
test_defaults_mail_limits(const struct config *c)
{
	ok(!c->email.enabled, "email.enabled false");
	ok(c->email.smtp_host == NULL && c->email.from_address == NULL, "no smtp host/from");
	is_int(c->email.smtp_port, 25, "email.smtp_port");
	ok(!c->email.smtp_starttls, "email.smtp_starttls false");
	ok(c->email.smtp_user == NULL && c->email.smtp_password == NULL &&
		   c->email.smtp_ca_file == NULL,
	   "smtp auth unset");
	ok(c->email.change_notification_template == NULL &&
		   c->email.expiry_notification_template == NULL,
	   "templates unset");
	ok(c->rate_limit.enabled, "rate_limit.enabled true");
	is_int(c->rate_limit.good_window_seconds, 60, "rate_limit.good_window_seconds");
	is_int(c->rate_limit.good_max_requests, 5, "rate_limit.good_max_requests");
	is_int(c->rate_limit.bad_window_seconds, 60, "rate_limit.bad_window_seconds");
	is_int(c->rate_limit.bad_max_requests, 3, "rate_limit.bad_max_requests");
	is_int(c->rate_limit.cleanup_interval, 60, "rate_limit.cleanup_interval");
	test_defaults_acme(c);
	ok(config_zone_key(c, "example.com") == NULL, "no key at all: unsigned");
}

static void
test_values(void)
{
	struct config *c = NULL;
	struct config_error err;
	const char *text = "[daemon]\n"
			   "host = '::1'\n"
			   "port = 8_080\n"
			   "log_level = \"debug\"\n"
			   "log_target = \"syslog\"\n"
			   "syslog_facility = \"local5\"\n"
			   "log_file_size = 1_000_000_000_000\n"
			   "ssl = true\n"
			   "ssl_cert_file = \"/c.pem\"\n"
			   "ssl_key_file = \"/k.pem\"\n"
			   "proxy_header = \"X-Forwarded-For\"\n"
			   "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\",\n"
			   "                   \"2001:db8::/32\"]\n"
			   "allow_private_addresses = false\n"
			   "credential_cache_ttl = 0\n"
			   "credential_cache_size = 10_000_000\n" DB "[email]\n"
			   "enabled = true\n"
			   "smtp_host = \"mail\"\n"
			   "from_address = \"ddns@example.com\"\n"
			   "smtp_user = \"u\"\n"
			   "smtp_password = \"p\"\n"
			   "change_notification_template = \"\"\n"
			   "[defaults]\nexpiry_ttl = 0\n";

	is_int(parse(text, &c, &err), 0, "a full config parses");
	if (c == NULL) {
		diag("%s", err.msg);
		return;
	}
	is_str(c->daemon.host, "::1", "literal string");
	is_int(c->daemon.port, 8080, "integer with _");
	is_int(c->daemon.log.level, LOG_LVL_DEBUG, "log_level case-insensitive");
	is_int(c->daemon.log.target, LOG_TARGET_SYSLOG, "log_target syslog");
	is_int(c->daemon.log.syslog_facility, LOG_LOCAL5, "facility local5");
	is_int(c->daemon.log.file_size, 1000000000000LL, "64-bit log_file_size");
	ok(c->daemon.ssl, "ssl");
	is_int(c->daemon.trusted_proxies.len, 3, "three trusted proxies");
	is_str(c->daemon.trusted_proxies.items[2], "2001:db8::/32", "IPv6 CIDR kept");
	ok(!c->daemon.allow_private_addresses, "allow_private_addresses false");
	is_int(c->daemon.credential_cache_ttl, 0, "credential_cache_ttl 0 (off) allowed");
	is_int(c->daemon.credential_cache_size, 10000000, "credential_cache_size at its maximum");
	ok(c->email.enabled, "email enabled");
	is_str(c->email.smtp_password, "p", "smtp_password");
	ok(c->email.change_notification_template == NULL, "empty optional string means unset");
	is_int(c->defaults.expiry_ttl, 0, "expiry_ttl 0 allowed");
	config_free(c);
}

/* Keys and sections that do not exist, or are not where they belong. */
static void
test_errors_keys(void)
{
	expect_error("[daemon]\nprot = 8443\n" DB, "t.toml:2: daemon.prot: unknown key",
		     "misspelt key");
	expect_error(DB "[deamon]\nport = 1\n", "t.toml:3: deamon: unknown section",
		     "unknown section");
	expect_error("port = 1\n" DB, "t.toml:1: port: unknown key outside any section",
		     "key outside a section");
	expect_error("daemon = 5\n" DB,
		     "t.toml:1: daemon: expected a table ([daemon]), got an integer",
		     "section that is not a table");
	expect_error(DB "[daemon]\n\"po.rt\" = 1\n", "t.toml:4: daemon.\"po.rt\": unknown key",
		     "quoted unknown key is shown quoted");
}

/* A value of the wrong TOML type. */
static void
test_errors_types(void)
{
	expect_error("[daemon]\nport = \"8443\"\n" DB,
		     "t.toml:2: daemon.port: expected an integer, got a string",
		     "string where an integer belongs");
	expect_error("[daemon]\nport = 8443.0\n" DB,
		     "t.toml:2: daemon.port: expected an integer, got a float",
		     "float for integer");
	expect_error(DB "[daemon]\nssl = \"yes\"\n",
		     "t.toml:4: daemon.ssl: expected a boolean, got a string",
		     "string for boolean");
	expect_error(DB "[daemon]\ntrusted_proxies = [1]\n",
		     "t.toml:4: daemon.trusted_proxies: expected an array of strings, item 1 is "
		     "an integer",
		     "integer in trusted_proxies");
	expect_error(DB "[daemon]\ntrusted_proxies = \"10.0.0.1\"\n",
		     "t.toml:4: daemon.trusted_proxies: expected an array of strings, got a "
		     "string",
		     "trusted_proxies not an array");
}

/* Keys required by another key's value; the line is the key's, its section's, or
 * the end of the file when the section is missing. */
static void
test_errors_required(void)
{
	expect_error(DB "[daemon]\n\n# comment\nssl = true\n",
		     "t.toml:3: daemon.ssl_cert_file: required when daemon.ssl = true",
		     "ssl = true without cert files (line of [daemon])");
	expect_error(DB "[daemon]\nssl = true\nssl_cert_file = \"/c\"\n",
		     "t.toml:3: daemon.ssl_key_file: required when daemon.ssl = true",
		     "ssl = true without key file");
	expect_error(DB "[daemon]\nssl = true\nssl_cert_file = \"\"\nssl_key_file = \"/k\"\n",
		     "t.toml:5: daemon.ssl_cert_file: must not be empty when daemon.ssl = true",
		     "empty required key: line of the key");
	expect_error(DB "[email]\nenabled = true\nfrom_address = \"a@b\"\n",
		     "t.toml:3: email.smtp_host: required when email.enabled = true",
		     "email without smtp_host (line of [email])");
	expect_error(DB "[email]\nenabled = true\nsmtp_host = \"m\"\n",
		     "t.toml:3: email.from_address: required when email.enabled = true",
		     "email without from_address");
	expect_error(DB "[email]\nsmtp_password = \"pw\"\n",
		     "t.toml:3: email.smtp_user: required when email.smtp_password is set",
		     "smtp_password without smtp_user");
	/* With sections but no [database]: the line is the file's last line. */
	expect_error("[daemon]\nport = 1\n\n[defaults]\ndns_ttl = 5\n",
		     "t.toml:5: database.path: required when database.backend = \"sqlite\"",
		     "missing section: line of the end of the file");
}

/* Values of the right type that are out of range or malformed. */
static void
test_errors_acme(void)
{
	struct config *c = NULL;
	struct config_error err;

	expect_error(DB "[acme]\npath = \"acme\"\n",
		     "t.toml:4: acme.path: \"acme\" does not start with '/'", "relative acme.path");
	expect_error(DB "[acme]\npath = \"/acme?x=1\"\n",
		     "t.toml:4: acme.path: \"/acme?x=1\" contains a space, '?', '#' or a control "
		     "character",
		     "acme.path with a query");
	expect_error(DB "[acme]\npath = \"\"\n", "t.toml:4: acme.path: must not be empty",
		     "empty acme.path");
	expect_error(DB "[acme]\nmax_age = 59\n",
		     "t.toml:4: acme.max_age: 59 is out of range (60..604800)", "acme.max_age 59");
	expect_error(DB "[acme]\ntxt_ttl = -1\n",
		     "t.toml:4: acme.txt_ttl: -1 is out of range (0..86400)", "negative txt_ttl");
	expect_error(DB "[acme]\nenable = true\n", "t.toml:4: acme.enable: unknown key",
		     "a misspelt acme key");
	is_int(parse(DB "[acme]\nenabled = true\npath = \"/\"\ntxt_ttl = 0\nmax_age = 600\n", &c,
		     &err),
	       0, "an [acme] section parses");
	ok(c != NULL && c->acme.enabled && strcmp(c->acme.path, "/") == 0 && c->acme.txt_ttl == 0 &&
		   c->acme.max_age == 600,
	   "[acme] values are taken");
	config_free(c);
}

static void
test_errors_values(void)
{
	expect_error(DB "[dns_service]\ndns_server = \"localhost\"\n",
		     "t.toml:4: dns_service.dns_server: \"localhost\" is not an IP address",
		     "dns_server = localhost");
	expect_error(DB "[daemon]\nport = 70000\n",
		     "t.toml:4: daemon.port: 70000 is out of range (1..65535)",
		     "out-of-range port");
	expect_error(DB "[daemon]\nport = 0\n",
		     "t.toml:4: daemon.port: 0 is out of range (1..65535)", "port 0");
	expect_error(DB "[dns_service]\ndns_port = -1\n",
		     "t.toml:4: dns_service.dns_port: -1 is out of range (1..65535)",
		     "negative dns_port");
	expect_error(DB "[daemon]\ntrusted_proxies = [\"10.0.0.0/8\", \"bogus\"]\n",
		     "t.toml:4: daemon.trusted_proxies: \"bogus\" is not an IP address or CIDR "
		     "prefix",
		     "bad trusted_proxies entry");
	expect_error(DB "[daemon]\ntrusted_proxies = [\n  \"::1\",\n  \"10.0.0.0/33\",\n]\n",
		     "t.toml:6: daemon.trusted_proxies: \"10.0.0.0/33\" is not an IP address or "
		     "CIDR prefix",
		     "bad prefix length, line of the item");
	expect_error(DB "[daemon]\nproxy_header = \"X Forwarded\"\n",
		     "t.toml:4: daemon.proxy_header: \"X Forwarded\" is not an HTTP header name",
		     "proxy_header with a space");
	expect_error(DB "[daemon]\nport = 1\nproxy_header = \"X-Forwarded-For\"\n",
		     "t.toml:5: daemon.proxy_header: needs daemon.trusted_proxies, the addresses "
		     "of the proxies that set it (without them every client would count as the "
		     "proxy)",
		     "proxy_header without trusted_proxies");
	expect_error(DB "[daemon]\nhost = \"\"\n", "t.toml:4: daemon.host: must not be empty",
		     "empty host");
	expect_error(DB "[daemon]\nhost = \"a\\u0000b\"\n",
		     "t.toml:4: daemon.host: contains a NUL character", "NUL in a string");
	expect_error(DB "[email]\nfrom_address = \"nobody\"\n",
		     "t.toml:4: email.from_address: \"nobody\" is not an email address",
		     "from_address without @");
	expect_error(DB "[defaults]\ndns_ttl = 2147483648\n",
		     "t.toml:4: defaults.dns_ttl: 2147483648 is out of range (0..2147483647)",
		     "dns_ttl beyond 2^31-1");
	expect_error(DB "[daemon]\ncredential_cache_ttl = -1\n",
		     "t.toml:4: daemon.credential_cache_ttl: -1 is out of range (0..604800)",
		     "negative credential_cache_ttl");
	expect_error(DB "[daemon]\ncredential_cache_size = 10000001\n",
		     "t.toml:4: daemon.credential_cache_size: 10000001 is out of range "
		     "(0..10000000)",
		     "credential_cache_size beyond its maximum");
	expect_error(DB "[daemon]\ncredential_cache_ttl = \"600\"\n",
		     "t.toml:4: daemon.credential_cache_ttl: expected an integer, got a string",
		     "credential_cache_ttl as a string");
	expect_error(DB "[rate_limit]\ngood_max_requests = 0\n",
		     "t.toml:4: rate_limit.good_max_requests: 0 is out of range (1..100)",
		     "rate limit of 0 requests");
	test_errors_acme();
}

/* A string that is not one of the names an enumerated key accepts. */
static void
test_errors_enums(void)
{
	expect_error(DB "[daemon]\nlog_level = \"LOUD\"\n",
		     "t.toml:4: daemon.log_level: \"LOUD\" is not one of DEBUG, INFO, WARNING, "
		     "ERROR",
		     "log_level enum");
	expect_error(DB "[daemon]\nlog_target = \"journal\"\n",
		     "t.toml:4: daemon.log_target: \"journal\" is not one of stdout, syslog, file",
		     "log_target enum");
	expect_error(DB "[daemon]\nsyslog_facility = \"local9\"\n",
		     "t.toml:4: daemon.syslog_facility: \"local9\" is not one of daemon, user, "
		     "local0 .. local7 (or another syslog facility name)",
		     "syslog_facility enum");
	expect_error("[database]\nbackend = \"postgres\"\n",
		     "t.toml:2: database.backend: \"postgres\" is not one of sqlite, mariadb",
		     "backend enum");
}

/* The rule of email.h, which the mailer applies too: what it would refuse to send from
 * is refused here, at start. */
static void
test_errors_email(void)
{
	struct config *c = NULL;
	struct config_error err;

	expect_error(DB "[email]\nfrom_address = \"<ddns@example.com>\"\n",
		     "t.toml:4: email.from_address: \"<ddns@example.com>\" is not an email address",
		     "from_address in angle brackets");
	expect_error(DB "[email]\nfrom_address = \"a@b@example.com\"\n",
		     "t.toml:4: email.from_address: \"a@b@example.com\" is not an email address",
		     "from_address with two @");
	expect_error(DB "[email]\nfrom_address = \"ddns@example.com,x@y.z\"\n",
		     "t.toml:4: email.from_address: \"ddns@example.com,x@y.z\" is not an email "
		     "address",
		     "from_address with a comma");
	expect_error(DB "[email]\nfrom_address = \"d\u00fcns@example.com\"\n",
		     "t.toml:4: email.from_address: \"d\xc3\xbcns@example.com\" is not an email "
		     "address",
		     "from_address with non-ASCII");
	is_int(parse(DB "[email]\nfrom_address = \"ddns@localhost\"\n", &c, &err), 0,
	       "from_address at a local domain (ddns@localhost)");
	config_free(c);
}

static void
test_errors(void)
{
	test_errors_keys();
	test_errors_types();
	test_errors_required();
	test_errors_values();
	test_errors_enums();
	test_errors_email();
}

/* Values past their limits are refused, not truncated. */
static void
test_limits(void)
{
	char *text = malloc(CONFIG_MAX_STRING + 64);

	memset(text, 'a', CONFIG_MAX_STRING + 64);
	memcpy(text, "[daemon]\nhost = \"", 17);
	memcpy(text + 17 + CONFIG_MAX_STRING + 1, "\"\n", 3);
	text[17 + CONFIG_MAX_STRING + 4] = '\0';
	expect_error(text, "t.toml:2: daemon.host: longer than 4096 bytes", "string too long");
	free(text);
	expect_error(DB "[dns_service.zone_keys]\n\"\" = \"/k\"\n",
		     "t.toml:4: dns_service.zone_keys.\"\": not a zone name", "empty zone name");
	expect_error(DB "[dns_service.zone_keys]\n\".\" = \"/k\"\n",
		     "t.toml:4: dns_service.zone_keys.\".\": not a zone name", "root zone alone");
	/* fuzz_config's invariant: "a.example.." was kept as "a.example.", which no lookup
	 * matches. Every empty label is refused now. */
	expect_error(DB "[dns_service.zone_keys]\n\"a.example..\" = \"/k\"\n",
		     "t.toml:4: dns_service.zone_keys.\"a.example..\": not a zone name",
		     "two trailing dots");
	expect_error(DB "[dns_service.zone_keys]\n\".a.example\" = \"/k\"\n",
		     "t.toml:4: dns_service.zone_keys.\".a.example\": not a zone name",
		     "leading dot");
	expect_error(DB "[dns_service.zone_keys]\n\"a..example\" = \"/k\"\n",
		     "t.toml:4: dns_service.zone_keys.\"a..example\": not a zone name",
		     "empty label inside");
}

static void
test_syntax_error(void)
{
	struct config *c = NULL;
	struct config_error err;
	int rc = parse("[daemon]\nport = = 1\n", &c, &err);

	ok(rc == ERR_INVAL && c == NULL, "TOML syntax error refused");
	ok(strncmp(err.msg, "t.toml:2:", 9) == 0 && err.msg[9] >= '1' && err.msg[9] <= '9',
	   "syntax error as PATH:LINE:COL: (%s)", err.msg);
	rc = parse(DB "[daemon]\nport = 1\nport = 2\n", &c, &err);
	ok(rc == ERR_INVAL && strncmp(err.msg, "t.toml:5:", 9) == 0,
	   "duplicate key is a TOML error at its line (%s)", err.msg);
}

static void
test_mariadb(void)
{
	struct config *c = NULL;
	struct config_error err;
	int rc;

	if (!HAVE_MARIADB) {
		expect_error("[database]\nbackend = \"mariadb\"\n",
			     "t.toml:2: database.backend: \"mariadb\" is not available: built "
			     "without libmariadb",
			     "mariadb refused without libmariadb");
		return;
	}
	expect_error("[database]\nbackend = \"mariadb\"\nhost = \"db\"\nname = \"ddns\"\n",
		     "t.toml:1: database.user: required when database.backend = \"mariadb\"",
		     "mariadb without user");
	expect_error("[database]\nbackend = \"mariadb\"\nhost = \"db\"\nuser = \"u\"\n",
		     "t.toml:1: database.name: required when database.backend = \"mariadb\"",
		     "mariadb without name");
	expect_error("[database]\nbackend = \"mariadb\"\nuser = \"u\"\nname = \"n\"\n",
		     "t.toml:1: database.host: required when database.backend = \"mariadb\" "
		     "without database.socket",
		     "mariadb without host or socket");
	rc = parse("[database]\nbackend = \"mariadb\"\nsocket = \"/run/mysqld/mysqld.sock\"\n"
		   "user = \"u\"\npassword = \"pw\"\nname = \"n\"\n",
		   &c, &err);
	is_int(rc, 0, "mariadb over a socket, no path needed");
	if (c != NULL) {
		is_int(c->database.backend, DB_BACKEND_MARIADB, "backend mariadb");
		is_str(c->database.password, "pw", "password");
		is_int(c->database.port, 3306, "port default 3306");
		ok(c->database.path == NULL, "no sqlite path");
	}
	config_free(c);
}

static const char key_sha256[] = "key \"zone1-key\" {\n"
				 "\talgorithm hmac-sha256;\n"
				 "\tsecret \"YyR14rVRtUCEAe2aLrR1FIvLoUL0zE5HX1YS3oLii/A=\";\n"
				 "};\n";
static const char key_md5[] = "# a comment\nkey \"Default-Key.\" {\n"
			      "\talgorithm hmac-md5;\n"
			      "\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0\";\n"
			      "};\n";
static const char key_broken[] = "key \"bad\" {\n"
				 "\talgorithm hmac-sha256;\n"
				 "\tsecret \"not base64 !!\";\n"
				 "};\n";

/* A zone key and a default key: which zone gets which key. */
static void
test_zone_key_lookup(void)
{
	struct config *c = NULL;
	struct config_error err;
	char text[2048];
	const struct tsig_key *k;
	int rc;

	snprintf(text, sizeof(text),
		 DB "[dns_service]\nddns_default_key_file = \"%s\"\n"
		    "[dns_service.zone_keys]\n\"Dyn.Example.COM.\" = \"%s\"\n",
		 tpath("default.key"), tpath("zone1.key"));
	rc = parse(text, &c, &err);
	is_int(rc, 0, "zone keys and a default key load");
	if (c == NULL) {
		diag("%s", err.msg);
	} else {
		ok(c->dns.has_default_key, "has_default_key");
		is_int(c->dns.zone_keys_len, 1, "one zone key");
		is_str(c->dns.zone_keys[0].zone, "dyn.example.com", "zone lower-cased, no dot");
		k = config_zone_key(c, "dyn.example.com");
		ok(k != NULL && strcmp(k->name, "zone1-key.") == 0, "exact zone gets its key");
		k = config_zone_key(c, "DYN.example.com.");
		ok(k != NULL && strcmp(k->name, "zone1-key.") == 0,
		   "lookup ignores case and a trailing dot");
		k = config_zone_key(c, "sub.dyn.example.com");
		ok(k != NULL && k == &c->dns.default_key, "sub-zone is not the zone: default key");
		k = config_zone_key(c, "other.org");
		ok(k != NULL && strcmp(k->name, "default-key.") == 0 && k->alg == TSIG_HMAC_MD5,
		   "other zone gets the default key");
	}
	config_free(c);
}

static void
test_zone_keys_no_default(void)
{
	struct config *c = NULL;
	struct config_error err;
	char text[2048];
	int rc;

	snprintf(text, sizeof(text), DB "[dns_service.zone_keys]\n\"a.example\" = \"%s\"\n",
		 tpath("zone1.key"));
	rc = parse(text, &c, &err);
	is_int(rc, 0, "zone keys without a default");
	if (c != NULL) {
		ok(config_zone_key(c, "a.example") != NULL, "zone with key");
		ok(config_zone_key(c, "b.example") == NULL, "zone without key: unsigned");
	}
	config_free(c);
}

/* Key files that are broken, absent, listed twice or not strings. */
static void
test_key_file_errors(void)
{
	struct config *c = NULL;
	struct config_error err;
	char text[2048], want[1024];
	int rc;

	/* A broken key file: the tsig module's "KEYFILE:LINE: message" follows ours. */
	snprintf(text, sizeof(text), DB "[dns_service]\n\nddns_default_key_file = \"%s\"\n",
		 tpath("broken.key"));
	rc = parse(text, &c, &err);
	snprintf(want, sizeof(want),
		 "t.toml:5: dns_service.ddns_default_key_file: %s:3: ", tpath("broken.key"));
	ok(rc == ERR_INVAL && strncmp(err.msg, want, strlen(want)) == 0,
	   "broken key file: error names both files and lines (%s)", err.msg);

	snprintf(text, sizeof(text), DB "[dns_service]\nddns_default_key_file = \"%s\"\n",
		 tpath("absent.key"));
	snprintf(want, sizeof(want),
		 "t.toml:4: dns_service.ddns_default_key_file: %s: No such file or directory",
		 tpath("absent.key"));
	expect_error(text, want, "unreadable key file");

	snprintf(text, sizeof(text),
		 DB "[dns_service.zone_keys]\n\"ok.example\" = \"%s\"\n"
		    "\"x.example\" = \"%s\"\n",
		 tpath("zone1.key"), tpath("broken.key"));
	rc = parse(text, &c, &err);
	snprintf(want, sizeof(want),
		 "t.toml:5: dns_service.zone_keys.\"x.example\": %s:3: ", tpath("broken.key"));
	ok(rc == ERR_INVAL && strncmp(err.msg, want, strlen(want)) == 0,
	   "broken zone key file (%s)", err.msg);

	snprintf(text, sizeof(text),
		 DB "[dns_service.zone_keys]\n\"a.example\" = \"%s\"\n"
		    "\"A.example.\" = \"%s\"\n",
		 tpath("zone1.key"), tpath("zone1.key"));
	expect_error(text,
		     "t.toml:5: dns_service.zone_keys.\"A.example.\": zone \"a.example\" "
		     "listed twice",
		     "zone listed twice after normalisation");
	expect_error(DB "[dns_service.zone_keys]\n\"a.example\" = 5\n",
		     "t.toml:4: dns_service.zone_keys.\"a.example\": expected a string (a key "
		     "file), got an integer",
		     "zone key that is not a string");
}

static void
test_tsig_keys(void)
{
	write_file(tpath("zone1.key"), key_sha256, 0600);
	write_file(tpath("default.key"), key_md5, 0600);
	write_file(tpath("broken.key"), key_broken, 0600);
	test_zone_key_lookup();
	test_zone_keys_no_default();
	test_key_file_errors();
}

/* A key made by the real tsig-keygen, when it is installed. */
/* The DNS server and key of a zone, as service, expiry and cli get them. */
static void
test_dns_server(void)
{
	struct config *c = NULL;
	struct config_error err;
	struct dns_server srv;
	char text[1024];
	const struct tsig_key *k;

	write_file(tpath("zone2.key"), key_sha256, 0600);
	snprintf(text, sizeof(text),
		 DB "[dns_service]\ndns_server = \"::1\"\ndns_port = 5300\ndns_timeout = 3\n"
		    "[dns_service.zone_keys]\n\"a.example\" = \"%s\"\n",
		 tpath("zone2.key"));
	is_int(parse(text, &c, &err), 0, "dns_server config");
	if (c == NULL) {
		diag("%s", err.msg);
		return;
	}
	memset(&srv, 0x5a, sizeof(srv));
	k = config_dns_server(c, "a.example", &srv);
	is_str(srv.addr, "::1", "dns server: address");
	is_int(srv.port, 5300, "dns server: port");
	is_int(srv.timeout_ms, 3000, "dns server: timeout in ms");
	ok(k != NULL && k == config_zone_key(c, "a.example"), "dns server: the zone's key");
	ok(config_dns_server(c, "b.example", &srv) == NULL, "dns server: unsigned zone");
	is_str(srv.addr, "::1", "dns server: same server for every zone");
	config_free(c);
}

static void
test_tsig_keygen(void)
{
	char cmd[700], text[1024];
	struct config *c = NULL;
	struct config_error err;
	int rc;

	if (access("/usr/sbin/tsig-keygen", X_OK) != 0) {
		ok(1, "# SKIP tsig-keygen not installed");
		return;
	}
	snprintf(cmd, sizeof(cmd), "/usr/sbin/tsig-keygen -a hmac-sha512 gen-key > '%s'",
		 tpath("gen.key"));
	is_int(system(cmd), 0, "tsig-keygen ran");
	snprintf(text, sizeof(text), DB "[dns_service]\nddns_default_key_file = \"%s\"\n",
		 tpath("gen.key"));
	rc = parse(text, &c, &err);
	is_int(rc, 0, "tsig-keygen output loads");
	ok(c != NULL && c->dns.default_key.alg == TSIG_HMAC_SHA512 &&
		   c->dns.default_key.secret_len == 64,
	   "hmac-sha512 key with a 64-byte secret");
	config_free(c);
}

/* Without [[endpoints]]: one endpoint, /update, with the seed's aliases. */
static void
test_endpoint_defaults(void)
{
	static const char *const defaults[PARAM_COUNT] = {
		"hostname,host",       "myip,ipv4,ip4", "myip6,ipv6,ip6", "username,user",
		"password,pass,token", "notify_change", "offline"};
	struct config *c = NULL;
	struct config_error err;
	char joined[256];

	is_int(parse(DB, &c, &err), 0, "no endpoints");
	if (c != NULL) {
		is_int(c->endpoints_len, 1, "one default endpoint");
		is_str(c->endpoints[0].path, "/update", "default endpoint is /update");
		for (int p = 0; p < PARAM_COUNT; p++) {
			joined[0] = '\0';
			for (size_t i = 0; i < c->endpoints[0].params[p].len; i++) {
				size_t n = strlen(joined);

				snprintf(joined + n, sizeof(joined) - n, "%s%s", i ? "," : "",
					 c->endpoints[0].params[p].items[i]);
			}
			is_str(joined, defaults[p], config_param_name((enum config_param)p));
		}
	}
	config_free(c);
}

/* Two endpoints: params replace the defaults per parameter, an empty list disables. */
static void
test_endpoints_two(void)
{
	struct config *c = NULL;
	struct config_error err;
	int rc = parse(DB "[[endpoints]]\npath = \"/update\"\n"
			  "[[endpoints]]\npath = \"/nic/update\"\n[endpoints.params]\n"
			  "hostname = [\"hostname\"]\nipv4 = [\"myip\"]\nnotify_change = []\n"
			  "offline = []\n",
		       &c, &err);
	is_int(rc, 0, "two endpoints");
	if (c != NULL) {
		is_int(c->endpoints_len, 2, "two endpoints kept");
		is_str(c->endpoints[1].path, "/nic/update", "second path");
		is_int(c->endpoints[0].params[PARAM_PASSWORD].len, 3,
		       "endpoint without params has the defaults");
		is_int(c->endpoints[1].params[PARAM_HOSTNAME].len, 1, "hostname aliases replaced");
		is_str(c->endpoints[1].params[PARAM_IPV4].items[0], "myip", "ipv4 alias");
		is_int(c->endpoints[1].params[PARAM_IPV6].len, 3, "missing param: defaults");
		is_int(c->endpoints[1].params[PARAM_NOTIFY_CHANGE].len, 0, "empty list disables");
		is_int(c->endpoints[1].params[PARAM_OFFLINE].len, 0, "offline disabled");
		is_str(c->endpoints[0].params[PARAM_OFFLINE].items[0], "offline",
		       "offline by default");
	}
	config_free(c);
}

static void
test_endpoint_errors(void)
{
	expect_error(DB "[[endpoints]]\npath = \"/update\"\n\n[[endpoints]]\npath = \"/update\"\n",
		     "t.toml:7: endpoints.path: duplicate path \"/update\"",
		     "duplicate endpoint path");
	expect_error(DB "[[endpoints]]\npath = \"update\"\n",
		     "t.toml:4: endpoints.path: \"update\" does not start with '/'",
		     "path without slash");
	expect_error(DB "[[endpoints]]\npath = \"/u?x=1\"\n",
		     "t.toml:4: endpoints.path: \"/u?x=1\" contains a space, '?', '#' or a "
		     "control character",
		     "path with a query");
	expect_error(DB "[[endpoints]]\n[endpoints.params]\nhostname = [\"h\"]\n",
		     "t.toml:3: endpoints.path: required", "endpoint without path");
	expect_error(DB "[[endpoints]]\npath = \"/u\"\n[endpoints.params]\nhost = [\"h\"]\n",
		     "t.toml:6: endpoints.params.host: unknown parameter (one of hostname, ipv4, "
		     "ipv6, username, password, notify_change, offline)",
		     "unknown endpoint parameter");
	expect_error(DB "[[endpoints]]\npath = \"/u\"\n[endpoints.params]\nhostname = \"h\"\n",
		     "t.toml:6: endpoints.params.hostname: expected an array of strings, got a "
		     "string",
		     "parameter not a list");
	expect_error(DB "[[endpoints]]\npath = \"/u\"\nmethod = \"GET\"\n",
		     "t.toml:5: endpoints.method: unknown key", "unknown endpoint key");
	expect_error(DB "[endpoints]\npath = \"/u\"\n",
		     "t.toml:3: endpoints: expected an array of tables ([[endpoints]]), got a "
		     "table",
		     "[endpoints] instead of [[endpoints]]");
}

static void
test_endpoints(void)
{
	test_endpoint_defaults();
	test_endpoints_two();
	test_endpoint_errors();
}

static void
test_files(void)
{
	struct config *c = NULL;
	struct config_error err;
	char want[700];
	int rc;

	write_file(tpath("c.toml"), DB "[daemon]\nport = 9000\n", 0640);
	is_int(config_is_world_readable(tpath("c.toml")), 0, "0640 is not world-readable");
	rc = config_load(tpath("c.toml"), &c, &err);
	is_int(rc, 0, "config_load reads a file");
	ok(c != NULL && c->daemon.port == 9000 && strcmp(c->path, tpath("c.toml")) == 0,
	   "values and path from the file");
	config_free(c);
	chmod(tpath("c.toml"), 0644);
	is_int(config_is_world_readable(tpath("c.toml")), 1, "0644 is world-readable");
	is_int(config_is_world_readable(tpath("none.toml")), ERR_IO, "missing file: ERR_IO");
	is_int(config_is_world_writable(tpath("c.toml")), 0, "0644 is not world-writable");
	chmod(tpath("c.toml"), 0602);
	is_int(config_is_world_readable(tpath("c.toml")), 0, "0602 is not world-readable");
	is_int(config_is_world_writable(tpath("c.toml")), 1, "0602 is world-writable");
	is_int(config_is_world_writable(tpath("none.toml")), ERR_IO, "missing file: ERR_IO");

	write_file(tpath("bad.toml"), DB "[daemon]\nport = true\n", 0600);
	rc = config_load(tpath("bad.toml"), &c, &err);
	snprintf(want, sizeof(want), "%s:4: daemon.port: expected an integer, got a boolean",
		 tpath("bad.toml"));
	ok(rc == ERR_INVAL && c == NULL, "config_load refuses a bad file");
	is_str(err.msg, want, "config_load error names the file");

	rc = config_load(tpath("none.toml"), &c, &err);
	snprintf(want, sizeof(want), "%s: No such file or directory", tpath("none.toml"));
	is_int(rc, ERR_IO, "missing config: ERR_IO");
	is_str(err.msg, want, "missing config: PATH: message");
	rc = config_load(tmpdir, &c, &err);
	is_int(rc, ERR_IO, "a directory is not a config file");
}

/* example_keys: every "section.key" of the table appears as a (commented) key line in
 * its section of the example. */
static void
test_example_lists_every_key(const char *text)
{
	char section[128] = "";
	char *copy = strdup(text), *save = NULL;
	char *found = calloc(config_key_count(), 1);
	size_t missing = 0;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *p = l, *end;

		if (strncmp(p, "# ", 2) == 0)
			p += 2;
		if (p[0] == '[') {
			end = strchr(p, ']');
			if (end != NULL && (size_t)(end - p) < sizeof(section))
				snprintf(section, sizeof(section), "%.*s", (int)(end - p - 1),
					 p + 1);
			continue;
		}
		end = strstr(p, " = ");
		for (size_t i = 0; end != NULL && i < config_key_count(); i++) {
			char full[256];

			snprintf(full, sizeof(full), "%s.%.*s", section, (int)(end - p), p);
			if (strcmp(full, config_key_name(i)) == 0)
				found[i] = 1;
		}
	}
	for (size_t i = 0; i < config_key_count(); i++) {
		if (!found[i]) {
			diag("example lacks %s", config_key_name(i));
			missing++;
		}
	}
	ok(config_key_count() >= 40, "the table has %zu keys", config_key_count());
	is_int(missing, 0, "the example lists every key of the table in its section");
	ok(strstr(text, "\n# [dns_service.zone_keys]\n") != NULL, "example shows zone_keys");
	ok(strstr(text, "# path = \"/nic/update\"\n") != NULL, "example shows two endpoints");
	free(found);
	free(copy);
}

/* uncomment_defaults: the example with every "# key = value  # default: ..." line made
 * live, so that parsing it checks the documented defaults against the real ones. */
static char *
uncomment_defaults(const char *text)
{
	char *out = strdup(text), *p = out;

	while (p != NULL && *p != '\0') {
		char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > 2 && strncmp(p, "# ", 2) == 0 && p[2] >= 'a' && p[2] <= 'z' &&
		    memmem(p, len, " = ", 3) != NULL && memmem(p, len, "# default:", 10) != NULL)
			p[0] = p[1] = ' ';
		p = eol ? eol + 1 : NULL;
	}
	return out;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
same_acme(const struct config *a, const struct config *b)
{
	return a->acme.enabled == b->acme.enabled && same_str(a->acme.path, b->acme.path) &&
	       a->acme.txt_ttl == b->acme.txt_ttl && a->acme.max_age == b->acme.max_age;
}

/* check_documented_defaults: `d` (the example with its defaults uncommented) and `m` (a
 * minimal file) agree on every default. */
static void
check_documented_defaults(const struct config *d, const struct config *m)
{
	ok(d->daemon.port == m->daemon.port && same_str(d->daemon.host, m->daemon.host) &&
		   d->daemon.log.level == m->daemon.log.level &&
		   d->daemon.log.target == m->daemon.log.target &&
		   same_str(d->daemon.log.syslog_socket, m->daemon.log.syslog_socket) &&
		   d->daemon.log.syslog_facility == m->daemon.log.syslog_facility &&
		   same_str(d->daemon.log.file, m->daemon.log.file) &&
		   d->daemon.log.file_size == m->daemon.log.file_size &&
		   d->daemon.log.versions == m->daemon.log.versions &&
		   d->daemon.log_requests == m->daemon.log_requests &&
		   d->daemon.ssl == m->daemon.ssl &&
		   same_str(d->daemon.proxy_header, m->daemon.proxy_header) &&
		   d->daemon.trusted_proxies.len == m->daemon.trusted_proxies.len,
	   "documented [daemon] defaults are the real ones");
	ok(d->database.backend == m->database.backend && d->database.port == m->database.port,
	   "documented [database] defaults are the real ones");
	ok(same_str(d->dns.dns_server, m->dns.dns_server) && d->dns.dns_port == m->dns.dns_port &&
		   d->dns.dns_timeout == m->dns.dns_timeout &&
		   d->dns.cleanup_interval == m->dns.cleanup_interval,
	   "documented [dns_service] defaults are the real ones");
	ok(d->defaults.dns_ttl == m->defaults.dns_ttl &&
		   d->defaults.expiry_ttl == m->defaults.expiry_ttl,
	   "documented [defaults] are the real ones");
	ok(d->email.enabled == m->email.enabled && d->email.smtp_port == m->email.smtp_port &&
		   d->email.smtp_starttls == m->email.smtp_starttls,
	   "documented [email] defaults are the real ones");
	ok(memcmp(&d->rate_limit, &m->rate_limit, sizeof(d->rate_limit)) == 0,
	   "documented [rate_limit] defaults are the real ones");
	ok(same_acme(d, m), "documented [acme] defaults are the real ones");
}

static void
test_example(void)
{
	const char *src = getenv("DDNS_TEST_SRCDIR");
	char path[1024], *text, *live;
	struct config *c = NULL, *d = NULL, *m = NULL;
	struct config_error err;

	snprintf(path, sizeof(path), "%s/files/config.example.toml", src ? src : "..");
	text = slurp(path);
	ok(text != NULL, "read %s", path);
	if (text == NULL)
		return;
	is_int(config_parse(text, strlen(text), path, &c, &err), 0, "the example parses");
	if (c == NULL)
		diag("%s", err.msg);
	test_example_lists_every_key(text);

	live = uncomment_defaults(text);
	is_int(config_parse(live, strlen(live), path, &d, &err), 0,
	       "the example with its defaults uncommented parses");
	if (d == NULL)
		diag("%s", err.msg);
	is_int(config_parse(DB, strlen(DB), "m", &m, &err), 0, "minimal config");
	if (c != NULL && d != NULL && m != NULL)
		check_documented_defaults(d, m);
	config_free(c);
	config_free(d);
	config_free(m);
	free(live);
	free(text);
}

/* [daemon] metrics_path, health_path, metrics_allow; [dns_service] reconcile_on_start. */
static void
test_monitoring(void)
{
	struct config *c = NULL;
	struct config_error err;

	is_int(parse(DB, &c, &err), 0, "monitoring defaults parse");
	if (c != NULL) {
		is_str(c->daemon.metrics_path, "/metrics", "metrics_path default");
		is_str(c->daemon.health_path, "/health", "health_path default");
		is_int(c->daemon.metrics_allow.len, 2, "metrics_allow default: two items");
		is_str(c->daemon.metrics_allow.items[0], "127.0.0.1",
		       "metrics_allow: IPv4 loopback");
		is_str(c->daemon.metrics_allow.items[1], "::1", "metrics_allow: IPv6 loopback");
		ok(!c->dns.reconcile_on_start, "reconcile_on_start default false");
		config_free(c);
	}
	c = NULL;
	is_int(parse(DB "[daemon]\nmetrics_allow = []\nmetrics_path = \"/m\"\n"
			"[dns_service]\nreconcile_on_start = true\n",
		     &c, &err),
	       0, "monitoring values parse");
	if (c != NULL) {
		is_int(c->daemon.metrics_allow.len, 0, "an empty metrics_allow stays empty");
		is_str(c->daemon.metrics_path, "/m", "metrics_path set");
		ok(c->dns.reconcile_on_start, "reconcile_on_start set");
		config_free(c);
	}
	expect_error(DB "[daemon]\nmetrics_allow = [\"10.0.0.0/8\", \"prometheus\"]\n",
		     "t.toml:4: daemon.metrics_allow: \"prometheus\" is not an IP address or "
		     "CIDR prefix",
		     "metrics_allow takes addresses only");
	expect_error(DB "[daemon]\nmetrics_path = \"metrics\"\n",
		     "t.toml:4: daemon.metrics_path: \"metrics\" does not start with '/'",
		     "metrics_path without a slash");
	expect_error(DB "[daemon]\nhealth_path = \"/he alth\"\n",
		     "t.toml:4: daemon.health_path: \"/he alth\" contains a space, '?', '#' or a "
		     "control character",
		     "health_path with a space");
	expect_error(DB "[daemon]\nhealth_path = \"/metrics\"\n",
		     "t.toml:4: daemon.health_path: \"/metrics\" is also daemon.metrics_path",
		     "health and metrics on one path");
	expect_error(DB "[daemon]\nmetrics_path = \"/update\"\n",
		     "t.toml:4: daemon.metrics_path: \"/update\" is also an endpoint path",
		     "metrics on the default endpoint's path");
}

static void
test_misc(void)
{
	is_str(config_param_name(PARAM_NOTIFY_CHANGE), "notify_change", "param name");
	ok(config_key_name(config_key_count()) == NULL, "key name past the end is NULL");
	is_str(config_key_name(0), "daemon.host", "first key");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	DIR *d;
	struct dirent *e;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_defaults();
	test_values();
	test_errors();
	test_limits();
	test_syntax_error();
	test_mariadb();
	test_tsig_keys();
	test_dns_server();
	test_tsig_keygen();
	test_endpoints();
	test_files();
	test_example();
	test_monitoring();
	test_misc();
	d = opendir(tmpdir);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			unlink(tpath(e->d_name));
	}
	if (d != NULL)
		closedir(d);
	rmdir(tmpdir);
	return tap_done();
}
