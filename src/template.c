/* SPDX-License-Identifier: MIT */
/* The template engine's entry points: compiling, freeing and rendering a template. */
#include "template.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "template_int.h"

#define COMPILE_MAX_MEMORY (48 * 1024 * 1024)

/* ------------------------------------------------------------------------------ */
/* Errors */

int
fail_at(const char *tname, int line, char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return rc;
	n = snprintf(err, errlen, "%s:%d: ", tname, line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ------------------------------------------------------------------------------ */
/* Compiling */

/* normalize: Jinja reads \r\n and \r as \n and drops one trailing newline. */
static char *
normalize(struct arena *a, const char *src, size_t len, size_t *outlen)
{
	char *out = arena_alloc(a, len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			out[n++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else {
			out[n++] = src[i];
		}
	}
	if (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = 0;
	*outlen = n;
	return out;
}

static int
compile_body(struct template *t, const char *src, size_t len, char *err, size_t errlen)
{
	struct lexer lx = {.t = t, .line = 1, .err = err, .errlen = errlen};
	struct parser p = {.t = t, .err = err, .errlen = errlen};
	struct analyzer an = {.t = t};
	struct frame root = {0};
	int rc;

	lx.src = normalize(&t->arena, src, len, &lx.len);
	if (!lx.src)
		return fail_at(t->name, 1, err, errlen, t->arena.err, "%s", err_str(t->arena.err));
	if ((rc = lex_all(&lx)) != 0)
		return rc;
	p.toks = lx.toks;
	p.ntok = lx.ntok;
	if ((rc = subparse(&p, NULL, &t->body)) != 0)
		return rc;
	if ((rc = intern(&p, "loop", 4, &an.loop_sym)) != 0)
		return rc;
	an.nsyms = t->nsyms;
	t->loop_sym = an.loop_sym;
	stmts_name(t->body, an.loop_sym);
	rc = analyze_frame(&an, NULL, t->body, -1, -1, &root);
	if (rc)
		return fail_at(t->name, 1, err, errlen, rc, "%s", err_str(rc));
	t->root_prebound = root.prebound;
	t->nroot_prebound = root.n;
	return 0;
}

int
template_compile(const char *name, const char *src, size_t len, struct template **out, char *err,
		 size_t errlen)
{
	struct template *t;
	int rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	if (!name)
		name = "<template>";
	if (!src && len)
		return fail_at(name, 0, err, errlen, ERR_INVAL, "no template source");
	if (len > TEMPLATE_MAX_SIZE)
		return fail_at(name, 0, err, errlen, ERR_TOOBIG, "template larger than %d bytes",
			       TEMPLATE_MAX_SIZE);
	if (len && !utf8_is_valid(src, len))
		return fail_at(name, 0, err, errlen, ERR_INVAL, "template is not valid UTF-8");
	t = calloc(1, sizeof(*t));
	if (!t)
		return ERR_NOMEM;
	t->name = strdup(name);
	arena_init(&t->arena, COMPILE_MAX_MEMORY);
	if (!t->name) {
		template_free(t);
		return ERR_NOMEM;
	}
	rc = compile_body(t, src ? src : "", len, err, errlen);
	if (rc) {
		template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
template_compile_file(const char *path, struct template **out, char *err, size_t errlen)
{
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_at(path, 0, err, errlen, ERR_IO, "%s", strerror(errno));
	buf_init(&b, TEMPLATE_MAX_SIZE);
	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fail_at(path, 0, err, errlen, ERR_IO, "%s", strerror(errno));
		else if ((rc = buf_add(&b, chunk, (size_t)n)) != 0)
			rc = fail_at(path, 0, err, errlen, rc, "template larger than %d bytes",
				     TEMPLATE_MAX_SIZE);
	}
	close(fd);
	if (!rc)
		rc = template_compile(path, buf_str(&b), b.len, out, err, errlen);
	buf_free(&b);
	return rc;
}

void
template_free(struct template *t)
{
	if (!t)
		return;
	arena_free(&t->arena);
	free(t->name);
	free(t);
}

/* ------------------------------------------------------------------------------ */
/* Rendering */

int
template_render(const struct template *t, const struct template_vars *vars, size_t max_out,
		char **out, size_t *outlen, char *err, size_t errlen)
{
	struct render r = {.t = t, .max_out = max_out, .err = err, .errlen = errlen};
	struct scope root = {0};
	struct frame rootf = {t->root_prebound, t->nroot_prebound};
	struct tv *globals;
	struct buf b;
	int rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	if (outlen)
		*outlen = 0;
	globals = calloc(t->nsyms ? t->nsyms : 1, sizeof(*globals));
	if (!globals)
		return ERR_NOMEM;
	for (size_t k = 0; k < t->nsyms; k++) {
		const struct var *v = vars_find(vars, t->syms[k]);
		globals[k] = v ? v->val : tv_undef(t->syms[k]);
	}
	r.globals = globals;
	arena_init(&r.arena, TEMPLATE_MAX_WORK);
	buf_init(&b, max_out);
	rc = bind_prebound(&r, &root, rootf.prebound, rootf.n);
	r.scope = &root;
	if (!rc)
		rc = exec_stmts(&r, t->body, &b);
	if (!rc && !b.data && !(b.data = calloc(1, 1)))
		rc = ERR_NOMEM;
	if (!rc) {
		if (outlen)
			*outlen = b.len;
		*out = buf_steal(&b);
		if (!*out)
			rc = ERR_NOMEM;
	}
	buf_free(&b);
	arena_free(&r.arena);
	free(globals);
	return rc;
}
