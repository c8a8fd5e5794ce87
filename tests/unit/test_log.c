/* SPDX-License-Identifier: MIT */
/* Unit tests of the logger: level filtering, errno, escaping, file rotation, syslog over a
 * real AF_UNIX socket (datagram and stream), reopen, concurrency and fatal's exit code. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "tap.h"

static char tmpdir[256];

static const char *
tpath(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

/* slurp: the whole file as a string (caller frees), NULL when it does not exist. */
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

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void
clean_dir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			unlink(tpath(e->d_name));
	}
	if (d != NULL)
		closedir(d);
}

static struct log_settings
file_settings(const char *name, long long size, int versions)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s", tpath(name));
	return (struct log_settings){.level = LOG_LVL_INFO,
				     .target = LOG_TARGET_FILE,
				     .file = path,
				     .file_size = size,
				     .versions = versions};
}

static void
test_parse(void)
{
	enum log_level l;
	enum log_target t;
	int f;

	ok(log_level_parse("warning", &l) == 0 && l == LOG_LVL_WARNING, "level warning");
	ok(log_level_parse("WARN", &l) == 0 && l == LOG_LVL_WARNING, "level WARN alias");
	ok(log_level_parse("DEBUG", &l) == 0 && l == LOG_LVL_DEBUG, "level DEBUG");
	is_int(log_level_parse("LOUD", &l), ERR_INVAL, "level LOUD rejected");
	ok(log_target_parse("syslog", &t) == 0 && t == LOG_TARGET_SYSLOG, "target syslog");
	is_int(log_target_parse("journal", &t), ERR_INVAL, "target journal rejected");
	ok(log_facility_parse("local7", &f) == 0 && f == LOG_LOCAL7, "facility local7");
	ok(log_facility_parse("daemon", &f) == 0 && f == LOG_DAEMON, "facility daemon");
	is_int(log_facility_parse("local8", &f), ERR_INVAL, "facility local8 rejected");
	is_str(log_level_name(LOG_LVL_ERROR), "ERROR", "level name");
}

static void
test_levels_and_errno(void)
{
	struct log_settings s = file_settings("levels.log", 0, 0);
	char *text;

	s.level = LOG_LVL_WARNING;
	is_int(log_open(&s), 0, "open file log");
	ok(!log_enabled(LOG_LVL_INFO) && log_enabled(LOG_LVL_WARNING), "log_enabled follows level");
	log_info("hidden-info");
	log_debug("hidden-debug");
	log_warnx("shown-warning");
	log_error("shown-error");
	log_set_level(LOG_LVL_DEBUG);
	log_debug("shown-debug");
	errno = EACCES;
	log_warn("with-errno");
	is_int(errno, EACCES, "log_warn preserves errno");
	errno = ENOENT;
	log_info("ctrl\nline\x01"
		 "end");
	is_int(errno, ENOENT, "log_info preserves errno");
	/* Not UTF-8: a stray continuation byte, a cut sequence, an overlong one, a
	 * surrogate; around well-formed characters that stay as they are. */
	log_info("utf8 caf\xc3\xa9 \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 DEL\x7f");
	log_close();
	text = slurp(s.file);
	ok(text != NULL, "log file written");
	if (text == NULL)
		return;
	ok(strstr(text, "hidden") == NULL, "messages below the level are dropped");
	ok(strstr(text, " WARNING shown-warning\n") != NULL, "warning written with level");
	ok(strstr(text, " ERROR shown-error\n") != NULL, "error written");
	ok(strstr(text, " DEBUG shown-debug\n") != NULL, "log_set_level lowers the level");
	ok(strstr(text, "with-errno: Permission denied\n") != NULL, "log_warn appends strerror");
	ok(strstr(text, "ctrl\\nline\\x01end\n") != NULL, "control characters escaped");
	ok(strstr(text, "utf8 caf\xc3\xa9 \\x80 \\xe2\\x82 \\xc0\\xaf \\xed\\xa0\\x80 "
			"\xf0\x9f\x98\x80 DEL\\x7f\n") != NULL,
	   "bytes that are not UTF-8 escaped, characters kept");
	/* "YYYY-MM-DD HH:MM:SS.mmm LEVEL msg" */
	ok(strlen(text) > 24 && text[4] == '-' && text[10] == ' ' && text[19] == '.' &&
		   text[23] == ' ',
	   "lines start with a timestamp");
	free(text);
}

/* line_number: the N of a "... msg-N ..." line, or -1. */
static long
line_number(const char *line)
{
	const char *p = strstr(line, "msg-");

	return p != NULL ? strtol(p + 4, NULL, 10) : -1;
}

/* check_sequence: reads file.N .. file.1, file and checks that the numbers form one
 * ascending run ending at `last`, each file at most `max` bytes. Returns the count. */
static long
check_sequence(const char *base, int versions, long long max, long last, bool *good)
{
	long prev = -1, count = 0;

	*good = true;
	for (int v = versions; v >= 0; v--) {
		char name[600];
		char *text, *save = NULL;

		if (v > 0)
			snprintf(name, sizeof(name), "%s.%d", base, v);
		else
			snprintf(name, sizeof(name), "%s", base);
		text = slurp(name);
		if (text == NULL) {
			*good = false;
			continue;
		}
		if ((long long)strlen(text) > max)
			*good = false;
		for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			long n = line_number(l);

			if (prev >= 0 && n != prev + 1)
				*good = false;
			prev = n;
			count++;
		}
		free(text);
	}
	if (prev != last)
		*good = false;
	return count;
}

static void
test_rotation(void)
{
	struct log_settings s = file_settings("rot.log", 400, 3);
	char name[600];
	bool good;
	long count;

	is_int(log_open(&s), 0, "open rotating log");
	for (int i = 0; i < 100; i++)
		log_info("msg-%d padding padding", i);
	log_close();
	for (int v = 1; v <= 3; v++) {
		snprintf(name, sizeof(name), "%s.%d", s.file, v);
		ok(exists(name), "rotated version %d exists", v);
	}
	snprintf(name, sizeof(name), "%s.4", s.file);
	ok(!exists(name), "no version beyond log_versions");
	count = check_sequence(s.file, 3, 400, 99, &good);
	ok(good, "versions hold one contiguous run ending at the last message, each <= size");
	ok(count > 10 && count < 100, "old lines were dropped (%ld kept)", count);

	/* Reopening appends to the existing file and keeps its size in the count. */
	is_int(log_open(&s), 0, "reopen the rotated log");
	log_info("msg-100 padding padding");
	log_close();
	count = check_sequence(s.file, 3, 400, 100, &good);
	ok(good, "rotation continues after log_open on an existing file");

	s = file_settings("trunc.log", 200, 0);
	is_int(log_open(&s), 0, "open log with versions = 0");
	for (int i = 0; i < 20; i++)
		log_info("msg-%d padding padding", i);
	log_close();
	snprintf(name, sizeof(name), "%s.1", s.file);
	ok(!exists(name), "versions = 0 keeps no backups");
	count = check_sequence(s.file, 0, 200, 19, &good);
	ok(good && count > 0, "versions = 0 truncates and keeps the newest lines");
}

static void
test_reopen(void)
{
	struct log_settings s = file_settings("reopen.log", 0, 0);
	char moved[600];
	char *a, *b;

	snprintf(moved, sizeof(moved), "%s.moved", s.file);
	is_int(log_open(&s), 0, "open for reopen test");
	log_info("before-move");
	rename(s.file, moved);
	is_int(log_reopen(), 0, "log_reopen");
	log_info("after-move");
	log_close();
	a = slurp(moved);
	b = slurp(s.file);
	ok(a && strstr(a, "before-move") && !strstr(a, "after-move"), "old file has old lines");
	ok(b && strstr(b, "after-move") && !strstr(b, "before-move"), "new file after reopen");
	free(a);
	free(b);

	/* A failing log_open leaves the logger where it was. */
	is_int(log_open(&s), 0, "open again");
	struct log_settings bad = s;
	char badpath[600];

	snprintf(badpath, sizeof(badpath), "%s/no/such/dir/x.log", tmpdir);
	bad.file = badpath;
	is_int(log_open(&bad), ERR_IO, "unopenable file: ERR_IO");
	log_info("still-here");
	log_close();
	b = slurp(s.file);
	ok(b && strstr(b, "still-here"), "logging stays on the old target after a failed open");
	free(b);
}

struct thread_arg {
	int id;
};

static void *
writer(void *p)
{
	const struct thread_arg *a = p;

	for (int i = 0; i < 500; i++)
		log_info("thread-%d n-%d %s", a->id, i, "0123456789abcdefghijklmnopqrstuvwxyz");
	return NULL;
}

static void
test_threads(void)
{
	struct log_settings s = file_settings("threads.log", 8192, 200);
	pthread_t th[4];
	struct thread_arg args[4];
	long lines = 0, bad = 0;

	is_int(log_open(&s), 0, "open log for threads");
	for (int i = 0; i < 4; i++) {
		args[i].id = i;
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	log_close();
	for (int v = 0; v <= 200; v++) {
		char name[600], *text, *save = NULL;

		if (v > 0)
			snprintf(name, sizeof(name), "%s.%d", s.file, v);
		else
			snprintf(name, sizeof(name), "%s", s.file);
		text = slurp(name);
		if (text == NULL)
			continue;
		if (strlen(text) > 8192)
			bad++;
		for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			lines++;
			if (strstr(l, " INFO thread-") == NULL ||
			    strstr(l, " 0123456789abcdefghijklmnopqrstuvwxyz") == NULL)
				bad++;
		}
		free(text);
	}
	is_int(lines, 2000, "every line of 4 threads x 500 is kept across rotations");
	is_int(bad, 0, "no interleaved or torn lines, no file over the size");
}

/* bind_unix: a socket of `type` bound at `path` (listening when a stream). */
static int
bind_unix(const char *path, int type)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, type, 0);
	struct timeval tv = {.tv_sec = 2};

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	if (type == SOCK_STREAM && listen(fd, 1) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
recv_str(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

static void
test_syslog_dgram(void)
{
	char sock[512], buf[4096], want[128];
	struct log_settings s = {.level = LOG_LVL_INFO,
				 .target = LOG_TARGET_SYSLOG,
				 .syslog_socket = sock,
				 .syslog_facility = LOG_LOCAL3};
	int fd;

	snprintf(sock, sizeof(sock), "%s", tpath("log.sock"));
	fd = bind_unix(sock, SOCK_DGRAM);
	ok(fd >= 0, "bound a datagram syslog socket");
	is_int(log_open(&s), 0, "log_open syslog");
	log_debug("not-sent");
	log_warnx("hello syslog");
	recv_str(fd, buf, sizeof(buf));
	/* local3 (19 << 3) | warning (4) = 156 */
	ok(strncmp(buf, "<156>", 5) == 0, "PRI for local3.warning is 156 (%s)", buf);
	snprintf(want, sizeof(want), " %s[%ld]: hello syslog", LOG_IDENT, (long)getpid());
	ok(strstr(buf, want) != NULL, "ident[pid]: message");
	ok(strchr(buf, '\n') == NULL, "no newline in the datagram");
	ok(buf[8] == ' ' && buf[11] == ' ' && buf[14] == ':', "RFC 3164 timestamp");

	/* The syslog daemon restarts: a new socket at the same path gets the next message. */
	close(fd);
	fd = bind_unix(sock, SOCK_DGRAM);
	log_error("after restart");
	recv_str(fd, buf, sizeof(buf));
	ok(strncmp(buf, "<155>", 5) == 0 && strstr(buf, "]: after restart"),
	   "reconnects after the syslog socket was recreated (%s)", buf);
	log_close();

	s.syslog_facility = LOG_DAEMON;
	is_int(log_open(&s), 0, "log_open syslog daemon");
	log_info("info daemon");
	recv_str(fd, buf, sizeof(buf));
	ok(strncmp(buf, "<30>", 4) == 0, "PRI for daemon.info is 30 (%s)", buf);
	log_close();
	close(fd);

	snprintf(sock, sizeof(sock), "%s", tpath("absent.sock"));
	is_int(log_open(&s), ERR_IO, "absent syslog socket: ERR_IO");
}

static void
test_syslog_stream(void)
{
	char sock[512], buf[4096];
	struct log_settings s = {.level = LOG_LVL_INFO,
				 .target = LOG_TARGET_SYSLOG,
				 .syslog_socket = sock,
				 .syslog_facility = LOG_USER};
	int lfd, cfd;
	ssize_t n;

	snprintf(sock, sizeof(sock), "%s", tpath("stream.sock"));
	lfd = bind_unix(sock, SOCK_STREAM);
	is_int(log_open(&s), 0, "log_open falls back to a stream socket");
	cfd = accept(lfd, NULL, NULL);
	log_error("over stream");
	n = recv(cfd, buf, sizeof(buf) - 1, 0);
	ok(n > 0 && buf[n - 1] == '\0', "stream record is NUL-terminated");
	ok(n > 0 && strncmp(buf, "<11>", 4) == 0 && strstr(buf, "]: over stream"),
	   "user.err over stream");
	log_close();
	close(cfd);
	close(lfd);
}

static void
test_stdout(void)
{
	struct log_settings s = {.level = LOG_LVL_INFO, .target = LOG_TARGET_STDOUT};
	int saved, fd;
	char *text;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(tpath("stdout.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	log_open(&s);
	log_info("to-stdout");
	log_close();
	log_info("to-stderr-after-close");
	dup2(saved, STDOUT_FILENO);
	close(saved);
	text = slurp(tpath("stdout.txt"));
	ok(text && strstr(text, " INFO to-stdout\n"), "stdout target writes to stdout");
	ok(text && !strstr(text, "after-close"), "after log_close messages leave stdout");
	free(text);
}

static void
test_fatal(void)
{
	struct log_settings s = file_settings("fatal.log", 0, 0);
	pid_t pid = fork();
	int status = 0;
	char *text;

	if (pid == 0) {
		log_open(&s);
		errno = ENOENT;
		fatal("boom %d", 42);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 2, "fatal exits with status 2");
	text = slurp(s.file);
	ok(text && strstr(text, " ERROR boom 42: No such file or directory\n"),
	   "fatal logs at ERROR with strerror");
	free(text);

	pid = fork();
	if (pid == 0) {
		log_open(&s);
		fatalx("plain");
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 2, "fatalx exits with status 2");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_log.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_parse();
	test_levels_and_errno();
	test_rotation();
	test_reopen();
	test_threads();
	test_syslog_dgram();
	test_syslog_stream();
	test_stdout();
	test_fatal();
	clean_dir();
	rmdir(tmpdir);
	return tap_done();
}
