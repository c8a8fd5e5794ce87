/* SPDX-License-Identifier: MIT */
/* The monitoring endpoints on the HTTP listeners: the Prometheus exposition at
 * metrics_path and the health check at health_path, both for metrics_allow only. */
#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

#include <stdbool.h>

#include <microhttpd.h>

#include "addr.h"
#include "config.h"

/* How long the database may take to answer a health check. */
#define METRICS_HEALTH_TIMEOUT_MS 1000

enum metrics_route { METRICS_ROUTE_NONE, METRICS_ROUTE_METRICS, METRICS_ROUTE_HEALTH };

/* metrics_http_route: which monitoring endpoint `url` (the path, without query) names
 * under `cfg`; NONE for any other path, and for both when metrics_allow is empty (the
 * endpoints are off, so their paths answer 404 like any unknown path). */
enum metrics_route metrics_http_route(const struct config *cfg, const char *url);

/* metrics_http_allowed: whether `peer` lies in cfg->daemon.metrics_allow. `peer` must be
 * the TCP peer: a forwarded header would let any client behind a trusted proxy in. */
bool metrics_http_allowed(const struct config *cfg, const struct addr *peer);

/* metrics_http_answer: answers a request routed to `route` (not NONE) on `conn`: 403
 * for a peer outside metrics_allow; the exposition (200, or 500 when it cannot be
 * built); or the health check against the database of `boot` (the start-up
 * configuration: a reload does not move the database): 200 "ok", or 503 with the
 * reason. *status gets the HTTP status queued (for the request log). */
enum MHD_Result metrics_http_answer(struct MHD_Connection *conn, const struct config *boot,
				    const struct config *cfg, enum metrics_route route,
				    unsigned int *status);

#endif
