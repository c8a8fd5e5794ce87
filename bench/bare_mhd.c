/* SPDX-License-Identifier: MIT */
/* The HTTP limit of the benchmark: libmicrohttpd with the daemon's threading model,
 * connection limits and timeouts (src/http.c start_listener), answering a fixed
 * `nochg 192.0.2.7` to every GET and doing nothing else.
 *
 *   bare_mhd PORT        listens on 127.0.0.1:PORT until SIGTERM/SIGINT */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

/* The daemon's pool: 2 threads per core, at least 4, at most 64 (src/http.c). */
#define BARE_THREADS_PER_CORE 2
#define BARE_MIN_THREADS      4
#define BARE_MAX_THREADS      64

static const char body[] = "nochg 192.0.2.7\n";
static struct MHD_Response *reply;

/* Answers on the second call, like the daemon: the whole request is in and the
 * connection stays reusable. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	static int marker;

	if (!*req_cls) {
		*req_cls = &marker;
		return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, reply);
}

static unsigned int
pool_size(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long n = (cores > 0 ? cores : 1) * BARE_THREADS_PER_CORE;

	return (unsigned int)(n < BARE_MIN_THREADS   ? BARE_MIN_THREADS
			      : n > BARE_MAX_THREADS ? BARE_MAX_THREADS
						     : n);
}

int
main(int argc, char **argv)
{
	unsigned int flags =
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct MHD_Daemon *d;
	sigset_t set;
	char *end = NULL;
	long port = argc == 2 ? strtol(argv[1], &end, 10) : 0;
	int sig;

	if (!end || *end || port < 1 || port > 65535) {
		fprintf(stderr, "usage: bare_mhd PORT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	reply = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(reply, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* MHD's own per-address limit stands in for the daemon's connlimit module. */
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
			     MHD_OPTION_THREAD_POOL_SIZE, pool_size(),
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTION_MAX,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			     (unsigned int)HTTP_PER_IP_CONNECTIONS, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bare_mhd: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(reply);
	return 0;
}
