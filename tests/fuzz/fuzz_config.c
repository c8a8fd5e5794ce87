/* SPDX-License-Identifier: MIT */
/* libFuzzer target for config_parse: any bytes as config.toml must be refused with a
 * "fuzz.toml:..." message or give a config whose invariants hold.
 *
 * config_parse reads the TSIG key files that the input names
 * (dns_service.ddns_default_key_file and [dns_service.zone_keys]). So that the fuzzer
 * opens nothing outside a directory of its own (no device with side effects on open,
 * no FIFO or terminal that blocks, nothing under /proc) and so that a run does not
 * depend on where it was started:
 *  - an input is skipped when any string under [dns_service] contains a '/', so key
 *    files can only be plain names. The check walks the same TOML tree config_parse
 *    builds, and errs on the wide side (every string of the section, any depth);
 *  - config_parse runs with the working directory set to a private temporary
 *    directory holding the key files good.key, md5.key and broken.key, which the seed
 *    corpus names; any other name fails as "No such file or directory". It is
 *    removed at exit (a crash leaves it behind in $TMPDIR).
 * A crash or timeout inside config_parse therefore happens in that directory: unless
 * told otherwise, LLVMFuzzerInitialize points libFuzzer's -artifact_prefix at the
 * directory the fuzzer was started in, where the other targets write theirs. */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "toml.h"

#define FUZZ_PATH "fuzz.toml"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *name;
	const char *text;
} key_files[] = {
	{"good.key", "key \"zone1-key\" {\n\talgorithm hmac-sha256;\n"
		     "\tsecret \"YyR14rVRtUCEAe2aLrR1FIvLoUL0zE5HX1YS3oLii/A=\";\n};\n"},
	{"md5.key", "# a comment\nkey \"Default-Key.\" {\n\talgorithm hmac-md5;\n"
		    "\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\n"},
	{"broken.key",
	 "key \"bad\" {\n\talgorithm hmac-sha256;\n\tsecret \"not base64 !!\";\n};\n"},
};
#define NKEY_FILES (sizeof(key_files) / sizeof(key_files[0]))

static char keydir[PATH_MAX];
static int start_dir = -1; /* the working directory to return to after each input */

static void
remove_keydir(void)
{
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < NKEY_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", keydir, key_files[i].name);
		unlink(path);
	}
	rmdir(keydir);
}

static void
setup_failed(const char *what)
{
	perror(what);
	abort();
}

/* setup: once, the private key directory and a handle on the starting directory. */
static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX + 32];
	FILE *f;

	if (start_dir >= 0)
		return;
	snprintf(keydir, sizeof(keydir), "%s/fuzz_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(keydir) == NULL)
		setup_failed(keydir);
	atexit(remove_keydir);
	for (size_t i = 0; i < NKEY_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", keydir, key_files[i].name);
		f = fopen(path, "w");
		if (f == NULL || fputs(key_files[i].text, f) < 0 || fclose(f) != 0)
			setup_failed(path);
	}
	start_dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (start_dir < 0)
		setup_failed(".");
}

/* has_slash: whether any string in `v`, at any depth, contains a '/'. */
static bool
has_slash(const struct toml_value *v)
{
	switch (v->type) {
	case TOML_STRING: return memchr(v->u.s.ptr, '/', v->u.s.len) != NULL;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr.len; i++) {
			if (has_slash(v->u.arr.items[i]))
				return true;
		}
		return false;
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.tab.len; i++) {
			if (has_slash(v->u.tab.items[i].value))
				return true;
		}
		return false;
	default: return false;
	}
}

/* key_files_confined: whether every key file config_parse may open is a plain name.
 * A root key matches up to a NUL byte, a superset of the sections config_parse takes
 * for [dns_service]. */
static bool
key_files_confined(const uint8_t *data, size_t size)
{
	struct toml_value *root = NULL;
	struct toml_error err;
	bool confined = true;

	if (toml_parse((const char *)data, size, &root, &err) != 0)
		return true; /* config_parse stops at the same error, before any key file */
	for (size_t i = 0; i < root->u.tab.len && confined; i++) {
		const struct toml_kv *kv = &root->u.tab.items[i];

		if (strcmp(kv->key, "dns_service") == 0 && has_slash(kv->value))
			confined = false;
	}
	toml_free(root);
	return confined;
}

/* check_config: what a parsed config promises its users. */
static void
check_config(const struct config *cfg)
{
	if (strcmp(cfg->path, FUZZ_PATH) != 0 || cfg->endpoints_len == 0 ||
	    cfg->endpoints_len > CONFIG_MAX_ENDPOINTS || cfg->daemon.port < 1 ||
	    cfg->daemon.port > 65535)
		__builtin_trap();
	if (cfg->database.backend == DB_BACKEND_SQLITE &&
	    (cfg->database.path == NULL || cfg->database.path[0] == '\0'))
		__builtin_trap();
	for (size_t i = 0; i < cfg->endpoints_len; i++) {
		if (cfg->endpoints[i].path == NULL || cfg->endpoints[i].path[0] != '/')
			__builtin_trap();
	}
	for (size_t i = 0; i < cfg->dns.zone_keys_len; i++) {
		const char *z = cfg->dns.zone_keys[i].zone;
		size_t n = strlen(z);

		/* Normalised (no trailing dot), and looking it up finds its own key. */
		if (n == 0 || z[n - 1] == '.' ||
		    config_zone_key(cfg, z) != &cfg->dns.zone_keys[i].key)
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct config_error err;
	int rc;

	if (size > CONFIG_MAX_FILE || !key_files_confined(data, size))
		return -1; /* config_load never passes more; a path could leave the key dir */
	setup();
	if (chdir(keydir) != 0)
		setup_failed(keydir);
	rc = config_parse((const char *)data, size, FUZZ_PATH, &cfg, &err);
	if (fchdir(start_dir) != 0)
		setup_failed("fchdir");
	if (rc == 0) {
		check_config(cfg);
		config_free(cfg);
	} else if (cfg != NULL || memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
		   strncmp(err.msg, FUZZ_PATH ":", strlen(FUZZ_PATH ":")) != 0) {
		__builtin_trap(); /* a refusal always says where */
	}
	return 0;
}

/* LLVMFuzzerInitialize: without an -artifact_prefix, crash files would land in the key
 * directory (see the top of the file); name the starting directory instead. libFuzzer
 * lets this function change argv. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char prefix[PATH_MAX + 32];
	static char *args[256];
	char cwd[PATH_MAX];
	int n = *argc;

	for (int i = 1; i < n; i++) {
		if (strncmp((*argv)[i], "-artifact_prefix=", 17) == 0 ||
		    strncmp((*argv)[i], "-exact_artifact_path=", 21) == 0)
			return 0;
	}
	if (n + 2 > (int)(sizeof(args) / sizeof(args[0])) || getcwd(cwd, sizeof(cwd)) == NULL)
		return 0;
	snprintf(prefix, sizeof(prefix), "-artifact_prefix=%s/", cwd);
	for (int i = 0; i < n; i++)
		args[i] = (*argv)[i];
	args[n] = prefix;
	args[n + 1] = NULL;
	*argv = args;
	*argc = n + 1;
	return 0;
}
