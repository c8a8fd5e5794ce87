/* SPDX-License-Identifier: MIT */
/* Logging to stdout, syslog or a size-rotated file. Thread-safe. errno is preserved. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

/* The logger is the one piece of process-wide mutable state: where messages go, the
 * level, and the open file or socket. One mutex guards it, so any thread may log. */

#define LOG_IDENT   "ddns-service" /* syslog tag: "<PRI>Mmm dd hh:mm:ss ddns-service[pid]: " */
#define LOG_MAX_MSG 2048	   /* bytes of one message; longer ones end in "..." */

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARNING, LOG_LVL_ERROR };
enum log_target { LOG_TARGET_STDOUT, LOG_TARGET_SYSLOG, LOG_TARGET_FILE };

struct log_settings {
	enum log_level level;
	enum log_target target;
	const char *syslog_socket; /* e.g. "/dev/log" */
	int syslog_facility;	   /* LOG_DAEMON, LOG_LOCAL0, ... from <syslog.h> */
	const char *file;	   /* path when target is file */
	long long file_size; /* rotate when the file would exceed this many bytes; 0 = never */
	int versions;	     /* keep file.1 .. file.N; 0 = truncate instead of rotating */
};

/* log_open: switches logging to `s` (strings are copied). Before any call, logging
 * goes to stderr at INFO. Returns 0 or ERR_IO when the file/socket cannot be opened
 * (logging then stays where it was, errno says why). A syslog socket is a datagram
 * socket (stream as fallback) connected to s->syslog_socket; lines are RFC 3164 style.
 * stdout and file lines start with a local timestamp and the level. */
int log_open(const struct log_settings *s);
/* log_reopen: reopens the log file (SIGHUP, after logrotate) or reconnects the syslog
 * socket. Call it from normal context, not from inside a signal handler. */
int log_reopen(void);
/* log_close: flushes and closes; later messages go to stderr. */
void log_close(void);
/* log_set_level: e.g. --debug forces LOG_LVL_DEBUG. */
void log_set_level(enum log_level level);
/* log_enabled: whether a message at `level` would be written (to skip costly formatting). */
int log_enabled(enum log_level level);

/* log_level_parse: "DEBUG"/"INFO"/"WARNING"/"ERROR" (case-insensitive; also "WARN").
 * Returns 0 or ERR_INVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* log_level_name: "DEBUG", "INFO", "WARNING", "ERROR" (static). */
const char *log_level_name(enum log_level level);
/* log_target_parse: "stdout", "syslog", "file" (case-insensitive). 0 or ERR_INVAL. */
int log_target_parse(const char *s, enum log_target *out);
/* log_facility_parse: "daemon", "user", "local0".."local7", ... → LOG_* value. */
int log_facility_parse(const char *s, int *out);

/* Control characters in messages are escaped (\n, \xNN) so that text from a client
 * can never forge a second log line. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx: log at ERROR and exit(2); fatal appends strerror(errno). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
