/* SPDX-License-Identifier: MIT */
/* The monitoring endpoints (see metrics_http.h): routing, the peer rule, and the
 * replies of /metrics and /health. */
#include "metrics_http.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "metrics.h"

enum metrics_route
metrics_http_route(const struct config *cfg, const char *url)
{
	if (cfg->daemon.metrics_allow.len == 0 || !url)
		return METRICS_ROUTE_NONE;
	if (strcmp(url, cfg->daemon.metrics_path) == 0)
		return METRICS_ROUTE_METRICS;
	if (strcmp(url, cfg->daemon.health_path) == 0)
		return METRICS_ROUTE_HEALTH;
	return METRICS_ROUTE_NONE;
}

bool
metrics_http_allowed(const struct config *cfg, const struct addr *peer)
{
	const struct config_strlist *l = &cfg->daemon.metrics_allow;
	struct cidr c;

	/* Parsed per request: the list was validated at load and is a handful of items;
	 * a scrape every few seconds does not justify state in the generation. */
	for (size_t i = 0; peer->family && i < l->len; i++)
		if (cidr_parse(l->items[i], &c) == 0 && cidr_contains(&c, peer))
			return true;
	return false;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *type, const char *body,
      size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
text(struct MHD_Connection *conn, unsigned int status, const char *body)
{
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result
answer_metrics(struct MHD_Connection *conn, unsigned int *status)
{
	struct buf b;
	enum MHD_Result ret;
	int rc;

	buf_init(&b, METRICS_TEXT_MAX);
	rc = metrics_render(&b);
	if (rc < 0) {
		log_error("metrics: cannot render the exposition: %s", err_str(rc));
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		ret = text(conn, *status, "cannot render the metrics\n");
	} else {
		*status = MHD_HTTP_OK;
		ret = reply(conn, *status, METRICS_CONTENT_TYPE, buf_str(&b), b.len);
	}
	buf_free(&b);
	return ret;
}

/* 200 "ok" or 503 with the reason; a failure is logged once per probe at WARNING (a
 * load balancer probing a dead database every second makes one line per second,
 * which is the news the operator needs). */
static enum MHD_Result
answer_health(struct MHD_Connection *conn, const struct config *boot, unsigned int *status)
{
	char why[256] = "", body[300];
	int rc = db_ping(boot, METRICS_HEALTH_TIMEOUT_MS, why, sizeof(why));

	if (rc == 0) {
		*status = MHD_HTTP_OK;
		return text(conn, *status, "ok\n");
	}
	log_warnx("health check failed: %s", why[0] ? why : err_str(rc));
	snprintf(body, sizeof(body), "database: %s\n", why[0] ? why : err_str(rc));
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	return text(conn, *status, body);
}

enum MHD_Result
metrics_http_answer(struct MHD_Connection *conn, const struct config *boot,
		    const struct config *cfg, enum metrics_route route, unsigned int *status)
{
	const union MHD_ConnectionInfo *ci;
	struct addr peer;

	memset(&peer, 0, sizeof(peer));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr || addr_from_sockaddr(ci->client_addr, &peer) < 0 ||
	    !metrics_http_allowed(cfg, &peer)) {
		*status = MHD_HTTP_FORBIDDEN;
		return text(conn, *status, "forbidden\n");
	}
	if (route == METRICS_ROUTE_METRICS)
		return answer_metrics(conn, status);
	return answer_health(conn, boot, status);
}
