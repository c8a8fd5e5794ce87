/* SPDX-License-Identifier: MIT */
/* The process-wide logger: stderr until opened, then stdout, a syslog socket or a
 * size-rotated file; one mutex serialises writers, errno survives every call. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "utf8.h"

#define LOG_MAX_PATH  4096		  /* bytes of a log file or socket path */
#define LOG_MAX_LINE  (LOG_MAX_MSG + 128) /* message plus timestamp/level/PRI prefix */
#define LOG_FILE_MODE 0640		  /* the log may name users and hosts: not for everyone */

/* Where messages go. `fd` is the log file or the syslog socket (-1 when not open). */
struct log_state {
	bool opened; /* false: stderr, as before log_open and after log_close */
	enum log_target target;
	int fd;
	int sock_type; /* SOCK_DGRAM or SOCK_STREAM for syslog */
	char path[LOG_MAX_PATH];
	int facility;
	long long file_size; /* rotation threshold, 0 = never */
	long long cur_size;  /* bytes in the current file */
	int versions;
};

static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static atomic_int log_cur_level = LOG_LVL_INFO;
static struct log_state log_st = {.fd = -1};

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_ERROR)
		return "?";
	return level_names[level];
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "WARN") == 0) {
		*out = LOG_LVL_WARNING;
		return 0;
	}
	return ERR_INVAL;
}

int
log_target_parse(const char *s, enum log_target *out)
{
	static const char *const names[] = {"stdout", "syslog", "file"};

	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum log_target)i;
			return 0;
		}
	}
	return ERR_INVAL;
}

int
log_facility_parse(const char *s, int *out)
{
	static const struct {
		const char *name;
		int value;
	} fac[] = {
		{"kern", LOG_KERN},	{"user", LOG_USER},	    {"mail", LOG_MAIL},
		{"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},	    {"syslog", LOG_SYSLOG},
		{"lpr", LOG_LPR},	{"news", LOG_NEWS},	    {"uucp", LOG_UUCP},
		{"cron", LOG_CRON},	{"authpriv", LOG_AUTHPRIV}, {"ftp", LOG_FTP},
		{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},	    {"local2", LOG_LOCAL2},
		{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},	    {"local5", LOG_LOCAL5},
		{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
	};

	for (size_t i = 0; i < sizeof(fac) / sizeof(fac[0]); i++) {
		if (strcasecmp(s, fac[i].name) == 0) {
			*out = fac[i].value;
			return 0;
		}
	}
	return ERR_INVAL;
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_cur_level, (int)level);
}

int
log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_cur_level);
}

/* write_all: writes every byte, retrying after EINTR and short writes. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* open_file: opens the log file for appending; *size gets its current length. */
static int
open_file(const char *path, bool truncate, long long *size)
{
	struct stat st;
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
	int fd = open(path, flags | (truncate ? O_TRUNC : 0), LOG_FILE_MODE);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	*size = (long long)st.st_size;
	return fd;
}

/* connect_syslog: a datagram socket connected to `path`; a stream socket when the
 * listener is one (EPROTOTYPE), as some syslog daemons are configured. */
static int
connect_syslog(const char *path, int *type)
{
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			*type = types[i];
			return fd;
		}
		int e = errno;

		close(fd);
		errno = e;
		if (e != EPROTOTYPE)
			return -1;
	}
	return -1;
}

/* open_state: opens what `s` asks for into `st` without touching the live logger. */
static int
open_state(const struct log_settings *s, struct log_state *st)
{
	const char *path = s->target == LOG_TARGET_FILE ? s->file : s->syslog_socket;

	*st = (struct log_state){.opened = true, .target = s->target, .fd = -1};
	st->facility = s->syslog_facility;
	st->file_size = s->file_size;
	st->versions = s->versions;
	if (s->target == LOG_TARGET_STDOUT)
		return 0;
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(st->path)) {
		errno = EINVAL;
		return ERR_IO;
	}
	memcpy(st->path, path, strlen(path) + 1);
	if (s->target == LOG_TARGET_FILE)
		st->fd = open_file(st->path, false, &st->cur_size);
	else
		st->fd = connect_syslog(st->path, &st->sock_type);
	return st->fd < 0 ? ERR_IO : 0;
}

int
log_open(const struct log_settings *s)
{
	struct log_state st;
	int old_fd;

	tzset(); /* localtime_r does not promise to read TZ itself */
	if (open_state(s, &st) < 0)
		return ERR_IO;
	pthread_mutex_lock(&log_mtx);
	old_fd = log_st.fd;
	log_st = st;
	atomic_store(&log_cur_level, (int)s->level);
	pthread_mutex_unlock(&log_mtx);
	if (old_fd >= 0)
		close(old_fd);
	return 0;
}

/* reopen_locked: reopens the file or socket of the live logger (lock held). */
static int
reopen_locked(void)
{
	int fd = -1;

	if (!log_st.opened || log_st.target == LOG_TARGET_STDOUT)
		return 0;
	if (log_st.target == LOG_TARGET_FILE)
		fd = open_file(log_st.path, false, &log_st.cur_size);
	else
		fd = connect_syslog(log_st.path, &log_st.sock_type);
	if (log_st.fd >= 0)
		close(log_st.fd);
	log_st.fd = fd;
	return fd < 0 ? ERR_IO : 0;
}

int
log_reopen(void)
{
	int saved = errno, rc;

	pthread_mutex_lock(&log_mtx);
	rc = reopen_locked();
	pthread_mutex_unlock(&log_mtx);
	if (rc == 0)
		errno = saved;
	return rc;
}

void
log_close(void)
{
	int saved = errno;

	pthread_mutex_lock(&log_mtx);
	if (log_st.fd >= 0)
		close(log_st.fd);
	log_st = (struct log_state){.fd = -1};
	pthread_mutex_unlock(&log_mtx);
	errno = saved;
}

/* escape_byte: "\n", "\r", "\t" or "\xNN" for one byte into esc[4]; returns its length. */
static size_t
escape_byte(unsigned char c, char esc[4])
{
	static const char hex[] = "0123456789abcdef";

	esc[0] = '\\';
	if (c == '\n' || c == '\r' || c == '\t') {
		esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		return 2;
	}
	esc[1] = 'x';
	esc[2] = hex[c >> 4];
	esc[3] = hex[c & 15];
	return 4;
}

/* escape_into: copies `src` to `dst` (size `cap`), escaping control bytes and every byte
 * that is not part of well-formed UTF-8, so that a message is always one line of valid
 * UTF-8 whatever a client sent (log readers, journald and syslog relays choke on, or
 * mangle, anything else). Only whole characters and whole escapes are copied. Returns
 * the length written. */
static size_t
escape_into(char *dst, size_t cap, const char *src)
{
	size_t n = 0, len = strlen(src);

	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)src[i];
		char esc[4];
		const char *piece = esc;
		size_t k = c >= 0x80 ? utf8_decode(src + i, len - i, NULL) : 0;

		if (k > 0) {
			piece = src + i; /* a well-formed multi-byte character */
		} else if (c < 0x20 || c == 0x7f || c >= 0x80) {
			k = escape_byte(c, esc);
		} else {
			piece = src + i;
			k = 1;
		}
		if (n + k >= cap)
			break;
		memcpy(dst + n, piece, k);
		n += k;
		i += piece == esc ? 1 : k;
	}
	dst[n] = '\0';
	return n;
}

/* format_message: the escaped message text, with ": strerror" when errnum >= 0. */
static void format_message(char *out, size_t cap, const char *fmt, va_list ap, int errnum)
	__attribute__((format(printf, 3, 0)));

static void
format_message(char *out, size_t cap, const char *fmt, va_list ap, int errnum)
{
	char raw[LOG_MAX_MSG];
	char ebuf[128];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);

	if (n < 0) {
		snprintf(raw, sizeof(raw), "(unformattable log message)");
	} else if ((size_t)n >= sizeof(raw)) {
		memcpy(raw + sizeof(raw) - 4, "...", 4);
	}
	if (errnum >= 0) {
		size_t len = strlen(raw);
		const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));

		snprintf(raw + len, sizeof(raw) - len, ": %s", es);
	}
	escape_into(out, cap, raw);
}

/* rotate_locked: file → file.1 → … → file.N (the oldest is overwritten), then a new
 * empty file. With versions == 0 the file is truncated instead. Lock held. */
static void
rotate_locked(void)
{
	char from[LOG_MAX_PATH + 16], to[LOG_MAX_PATH + 16];

	close(log_st.fd);
	log_st.fd = -1;
	for (int i = log_st.versions - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", log_st.path, i);
		snprintf(to, sizeof(to), "%s.%d", log_st.path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			break;
	}
	if (log_st.versions > 0) {
		snprintf(to, sizeof(to), "%s.1", log_st.path);
		rename(log_st.path, to);
	}
	log_st.fd = open_file(log_st.path, log_st.versions == 0, &log_st.cur_size);
}

/* write_file_locked: appends one line, rotating first when it would not fit. When the
 * file cannot be (re)opened the line goes to stderr, and the next line retries. */
static void
write_file_locked(const char *line, size_t n)
{
	if (log_st.fd < 0)
		log_st.fd = open_file(log_st.path, false, &log_st.cur_size);
	if (log_st.fd >= 0 && log_st.file_size > 0 && log_st.cur_size > 0 &&
	    log_st.cur_size + (long long)n > log_st.file_size)
		rotate_locked();
	if (log_st.fd < 0 || write_all(log_st.fd, line, n) < 0) {
		write_all(STDERR_FILENO, line, n);
		return;
	}
	log_st.cur_size += (long long)n;
}

/* send_syslog_locked: one datagram (or a NUL-terminated record on a stream socket);
 * reconnects once when the syslog daemon was restarted. */
static int
send_syslog_locked(const char *rec, size_t n)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t len = n + (log_st.sock_type == SOCK_STREAM ? 1 : 0);

		if (log_st.fd >= 0 && send(log_st.fd, rec, len, MSG_NOSIGNAL) == (ssize_t)len)
			return 0;
		if (log_st.fd >= 0)
			close(log_st.fd);
		log_st.fd = connect_syslog(log_st.path, &log_st.sock_type);
	}
	return -1;
}

static int
syslog_severity(enum log_level level)
{
	switch (level) {
	case LOG_LVL_DEBUG: return LOG_DEBUG;
	case LOG_LVL_INFO: return LOG_INFO;
	case LOG_LVL_WARNING: return LOG_WARNING;
	case LOG_LVL_ERROR: break;
	}
	return LOG_ERR;
}

/* write_syslog_locked: "<PRI>Mmm dd hh:mm:ss ident[pid]: msg" (RFC 3164). */
static void
write_syslog_locked(enum log_level level, const struct tm *tm, const char *msg,
		    const char *fallback, size_t fallback_len)
{
	char rec[LOG_MAX_LINE], stamp[32];
	int n;

	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", tm);
	n = snprintf(rec, sizeof(rec), "<%d>%s %s[%ld]: %s",
		     log_st.facility | syslog_severity(level), stamp, LOG_IDENT, (long)getpid(),
		     msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(rec))
		n = (int)sizeof(rec) - 1;
	if (send_syslog_locked(rec, (size_t)n) < 0)
		write_all(STDERR_FILENO, fallback, fallback_len);
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_MAX_MSG], line[LOG_MAX_LINE], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	format_message(msg, sizeof(msg), fmt, ap, errnum);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ld %s %s\n", stamp, ts.tv_nsec / 1000000L,
		     level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;

	pthread_mutex_lock(&log_mtx);
	if (!log_st.opened)
		write_all(STDERR_FILENO, line, (size_t)n);
	else if (log_st.target == LOG_TARGET_STDOUT)
		write_all(STDOUT_FILENO, line, (size_t)n);
	else if (log_st.target == LOG_TARGET_FILE)
		write_file_locked(line, (size_t)n);
	else
		write_syslog_locked(level, &tm, msg, line, (size_t)n);
	pthread_mutex_unlock(&log_mtx);
}

/* LOG_BODY: the shared body of the log_* functions; errno is restored afterwards. */
#define LOG_BODY(level, with_errno)                                                                \
	do {                                                                                       \
		int saved_ = errno;                                                                \
		va_list ap_;                                                                       \
		if (!log_enabled(level))                                                           \
			break;                                                                     \
		va_start(ap_, fmt);                                                                \
		log_emit((level), (with_errno) ? saved_ : -1, fmt, ap_);                           \
		va_end(ap_);                                                                       \
		errno = saved_;                                                                    \
	} while (0)

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, false);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, false);
}

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARNING, true);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARNING, false);
}

void
log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, false);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, true);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, false);
	exit(2);
}
