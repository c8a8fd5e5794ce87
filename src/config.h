/* SPDX-License-Identifier: MIT */
/* The configuration: config.toml parsed, validated against one declarative table of
 * keys (type, bounds, default), and frozen into an immutable struct config. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "tsig.h"

/* The request parameters an endpoint maps aliases to (SPEC §5, seed's table). */
enum config_param {
	PARAM_HOSTNAME,
	PARAM_IPV4,
	PARAM_IPV6,
	PARAM_USERNAME,
	PARAM_PASSWORD,
	PARAM_NOTIFY_CHANGE,
	PARAM_OFFLINE,
	PARAM_COUNT
};

struct config_strlist {
	char **items;
	size_t len;
};

struct config_endpoint {
	char *path; /* "/update" */
	struct config_strlist
		params[PARAM_COUNT]; /* aliases, first present wins; empty = disabled */
};

struct config_zone_key {
	char *zone; /* lower-case, no trailing dot */
	char *key_file;
	struct tsig_key key; /* loaded and validated at config time */
};

enum db_backend { DB_BACKEND_SQLITE, DB_BACKEND_MARIADB };

struct config {
	char *path; /* the file this was read from */

	struct {
		char *host;		 /* "localhost" */
		int port;		 /* 8443 */
		struct log_settings log; /* log_level, log_target, syslog_*, log_file* */
		bool log_requests;
		bool ssl;
		char *ssl_cert_file;
		char *ssl_key_file;
		int request_timeout; /* seconds for the request line and headers, 10 */
		char *proxy_header;  /* "" = disabled */
		struct config_strlist trusted_proxies; /* IPs and CIDRs, validated */
		char *metrics_path;		       /* "/metrics" */
		char *health_path;		       /* "/health" */
		/* Who may read metrics_path and health_path (the TCP peer, never a
		 * forwarded header): IPs and CIDRs; empty = both endpoints off. */
		struct config_strlist metrics_allow;
		/* Publish local-only addresses (private, loopback, link-local, ULA,
		 * documentation, ...: addr_classify ADDR_USE_LOCAL); false for a public
		 * service, which answers badip instead. */
		bool allow_private_addresses; /* true */
		int credential_cache_ttl;     /* seconds, 600; 0 = no cache */
		int credential_cache_size;    /* entries, 100000 */
	} daemon;

	struct {
		enum db_backend backend;
		char *path; /* sqlite */
		char *host; /* mariadb */
		int port;   /* 3306 */
		char *socket;
		char *user;
		char *password; /* never logged */
		char *name;
		/* Not from the file: set by the daemon, which must write (db.h db_open). */
		bool require_write;
	} database;

	struct {
		char *dns_server;	     /* an IP address (validated) */
		int dns_port;		     /* 53 */
		int dns_timeout;	     /* seconds, 5 */
		char *ddns_default_key_file; /* NULL when unset */
		bool has_default_key;
		struct tsig_key default_key;
		int cleanup_interval;	 /* seconds, 60 */
		bool reconcile_on_start; /* repair DNS drift once after the daemon starts */
		struct config_zone_key *zone_keys;
		size_t zone_keys_len;
	} dns;

	struct {
		int dns_ttl;	/* 60 */
		int expiry_ttl; /* 3600 */
	} defaults;

	struct {
		bool enabled;
		char *smtp_host;
		int smtp_port; /* 25 */
		bool smtp_starttls;
		char *smtp_user;     /* NULL when unset */
		char *smtp_password; /* never logged */
		char *smtp_ca_file;
		char *from_address;
		char *change_notification_template; /* NULL when unset */
		char *expiry_notification_template;
	} email;

	struct {
		bool enabled;		 /* true */
		int good_window_seconds; /* 60 */
		int good_max_requests;	 /* 5 */
		int bad_window_seconds;	 /* 60 */
		int bad_max_requests;	 /* 3 */
		int cleanup_interval;	 /* 60 */
	} rate_limit;

	/* ACME DNS-01 challenges through the lego httpreq API (acme_service.h). */
	struct {
		bool enabled; /* false */
		char *path;   /* "/acme": POST <path>/present and <path>/cleanup */
		int txt_ttl;  /* 60: TTL of the TXT records */
		int max_age;  /* 3600: seconds until the expiry pass deletes a left-behind value */
	} acme;

	struct config_endpoint *endpoints; /* never empty: default /update when none */
	size_t endpoints_len;
};

/* Limits on what a config file may contain (each value comes from a file an operator
 * wrote, but the parser must stay bounded for the fuzzer and for typos alike). */
#define CONFIG_MAX_FILE	     (1u << 20) /* bytes of config.toml */
#define CONFIG_MAX_STRING    4096	/* bytes of one string value (paths, hosts) */
#define CONFIG_MAX_LIST	     256	/* items of a string array (trusted_proxies) */
#define CONFIG_MAX_ENDPOINTS 64		/* [[endpoints]] tables */
#define CONFIG_MAX_PATH	     256	/* bytes of an endpoint path */
#define CONFIG_MAX_ALIASES   16		/* aliases of one endpoint parameter */
#define CONFIG_MAX_ALIAS     64		/* bytes of one alias */
#define CONFIG_MAX_ZONE_KEYS 4096	/* entries of [dns_service.zone_keys] */

/* Where config_load reports a problem: "PATH:LINE: key: message". */
struct config_error {
	char msg[512];
};

/* config_load: reads, parses and validates `path` (TSIG key files included).
 * On success *out is a new config the caller frees with config_free.
 * On failure returns ERR_INVAL/ERR_IO, fills err->msg as "PATH:LINE: key: message"
 * (or "PATH: message" when no line applies) and *out is NULL. */
int config_load(const char *path, struct config **out, struct config_error *err);

/* config_parse: as config_load but from memory; `path` only names the source in
 * messages. The TSIG key files the text names are still read (a relative name from the
 * working directory). Used by tests and the fuzzer. */
int config_parse(const char *text, size_t len, const char *path, struct config **out,
		 struct config_error *err);

/* config_is_world_readable: whether `path` can be read by others (the daemon refuses,
 * the CLI warns). Returns 1, 0, or ERR_IO. */
int config_is_world_readable(const char *path);
/* config_is_world_writable: whether others can write `path` (and so change where
 * updates go and which keys sign them): the daemon refuses, the CLI warns. Returns 1,
 * 0, or ERR_IO. */
int config_is_world_writable(const char *path);

/* config_zone_key: the TSIG key for `zone` ([dns_service.zone_keys], else the default
 * key), or NULL for unsigned updates. Borrowed from cfg. */
const struct tsig_key *config_zone_key(const struct config *cfg, const char *zone);

struct dns_server;

/* config_dns_server: where and how to send an UPDATE for a name in `zone`: fills *srv
 * from [dns_service] (dns_server, dns_port, dns_timeout) and returns the zone's TSIG key
 * as config_zone_key does (NULL = unsigned). Borrowed from cfg. */
const struct tsig_key *config_dns_server(const struct config *cfg, const char *zone,
					 struct dns_server *srv);

/* config_param_name: "hostname", "ipv4", ... */
const char *config_param_name(enum config_param p);

/* config_key_count / config_key_name: the keys of the declarative table as
 * "section.key" (static strings), e.g. for checking that the example config lists
 * every key. [dns_service.zone_keys] and [[endpoints]] are not in the table. */
size_t config_key_count(void);
const char *config_key_name(size_t i);

void config_free(struct config *cfg);

#endif
