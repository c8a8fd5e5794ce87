/* SPDX-License-Identifier: MIT */
/* Jinja's static scoping rules: which names each frame of a template starts with undefined. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "template_int.h"

/* ------------------------------------------------------------------------------ */
/* Scoping (jinja2.idtracking): which names a frame binds to "undefined" on entry.
 *
 * Jinja resolves names statically per frame (the template, a for body, a for else, a
 * {% set %} block). A name assigned in a frame whose first mention there is the
 * assignment, and that no enclosing frame mentions, starts out undefined in that frame
 * even when the caller passed a variable of that name; every other lookup behaves like
 * a plain scope chain. So `{% for %}{{ x }}{% endfor %}{% set x = 1 %}` prints nothing
 * for x. We compute those names here and bind them when a frame is entered. */

enum { REF_NONE, REF_LOAD, REF_UNDEF };

struct frame_state {
	unsigned char *ref;    /* per symbol: REF_* */
	unsigned char *stored; /* per symbol: assigned in this frame */
	const struct frame_state *parent;
};

static bool
ancestor_has(const struct frame_state *f, int sym)
{
	for (; f; f = f->parent)
		if (f->ref[sym] != REF_NONE)
			return true;
	return false;
}

static void
note_load(struct frame_state *f, int sym)
{
	if (f->ref[sym] == REF_NONE && !ancestor_has(f->parent, sym))
		f->ref[sym] = REF_LOAD;
}

static void
note_store(struct frame_state *f, int sym)
{
	f->stored[sym] = 1;
	if (f->ref[sym] == REF_NONE)
		f->ref[sym] = ancestor_has(f->parent, sym) ? REF_LOAD : REF_UNDEF;
}

static void
note_expr(struct frame_state *f, const struct expr *e)
{
	if (!e)
		return;
	if (e->kind == EX_NAME)
		note_load(f, e->sym);
	note_expr(f, e->a);
	note_expr(f, e->b);
	note_expr(f, e->c);
	for (size_t k = 0; k < e->nargs; k++)
		note_expr(f, e->args[k]);
}

static int frame_stmts(struct analyzer *an, struct frame_state *f, const struct stmt *s);

static int
state_copy(struct analyzer *an, const struct frame_state *src, struct frame_state *dst)
{
	dst->ref = malloc(an->nsyms ? an->nsyms * 2 : 1);
	if (!dst->ref)
		return ERR_NOMEM;
	dst->stored = dst->ref + an->nsyms;
	memcpy(dst->ref, src->ref, an->nsyms * 2 > 0 ? an->nsyms : 0);
	memcpy(dst->stored, src->stored, an->nsyms);
	dst->parent = src->parent;
	return 0;
}

/* branch_update: merges the body, elif and else branches of an if (Symbols.branch_update):
 * a name assigned in only some branches is looked up normally afterwards. */
static void
branch_update(struct analyzer *an, struct frame_state *f, struct frame_state br[3])
{
	for (size_t sym = 0; sym < an->nsyms; sym++) {
		int count = 0;
		for (int k = 0; k < 3; k++) {
			if (br[k].stored[sym] && !f->stored[sym])
				count++;
			if (br[k].ref[sym] != REF_NONE)
				f->ref[sym] = br[k].ref[sym];
		}
		for (int k = 0; k < 3; k++)
			f->stored[sym] |= br[k].stored[sym];
		if (count > 0 && count < 3 && f->ref[sym] == REF_UNDEF)
			f->ref[sym] = REF_LOAD;
	}
}

static int
frame_if(struct analyzer *an, struct frame_state *f, const struct stmt *s)
{
	struct frame_state br[3] = {{0}};
	int rc = 0;

	note_expr(f, s->e);
	for (int k = 0; k < 3 && !rc; k++)
		rc = state_copy(an, f, &br[k]);
	if (!rc)
		rc = frame_stmts(an, &br[0], s->body);
	if (!rc && s->orelse && s->orelse->is_elif)
		rc = frame_if(an, &br[1], s->orelse);
	else if (!rc)
		rc = frame_stmts(an, &br[2], s->orelse);
	if (!rc)
		branch_update(an, f, br);
	for (int k = 0; k < 3; k++)
		free(br[k].ref);
	return rc;
}

static int
frame_stmts(struct analyzer *an, struct frame_state *f, const struct stmt *s)
{
	int rc = 0;

	for (; s && !rc; s = s->next) {
		switch (s->kind) {
		case ST_TEXT: break;
		case ST_OUTPUT: note_expr(f, s->e); break;
		case ST_SET:
			note_expr(f, s->e);
			note_store(f, s->sym);
			break;
		case ST_SETBLOCK: note_store(f, s->sym); break;
		case ST_FOR: note_expr(f, s->e); break;
		case ST_IF: rc = frame_if(an, f, s); break;
		}
	}
	return rc;
}

/* nested_frames: analyzes the frames nested in these statements, `f` being their parent. */
static int
nested_frames(struct analyzer *an, const struct frame_state *f, struct stmt *s)
{
	int rc = 0;

	for (; s && !rc; s = s->next) {
		if (s->kind == ST_IF) {
			rc = nested_frames(an, f, s->body);
			if (!rc)
				rc = nested_frames(an, f, s->orelse);
		} else if (s->kind == ST_FOR) {
			rc = analyze_frame(an, f, s->body, s->sym, s->uses_loop ? an->loop_sym : -1,
					   &s->fbody);
			if (!rc)
				rc = analyze_frame(an, f, s->orelse, -1, -1, &s->felse);
		} else if (s->kind == ST_SETBLOCK) {
			rc = analyze_frame(an, f, s->body, -1, -1, &s->fbody);
		}
	}
	return rc;
}

int
analyze_frame(struct analyzer *an, const struct frame_state *parent, struct stmt *body, int param,
	      int param2, struct frame *out)
{
	struct frame_state f = {.parent = parent};
	size_t n = 0;
	int *pre;
	int rc;

	f.ref = calloc(an->nsyms ? an->nsyms * 2 : 1, 1);
	if (!f.ref)
		return ERR_NOMEM;
	f.stored = f.ref + an->nsyms;
	if (param >= 0)
		f.ref[param] = REF_LOAD;
	if (param2 >= 0)
		f.ref[param2] = REF_LOAD;
	rc = frame_stmts(an, &f, body);
	for (size_t k = 0; !rc && k < an->nsyms; k++)
		n += f.ref[k] == REF_UNDEF;
	out->n = 0;
	if (!rc && n) {
		pre = arena_alloc(&an->t->arena, n * sizeof(*pre));
		if (!pre)
			rc = an->t->arena.err;
		for (size_t k = 0; !rc && k < an->nsyms; k++)
			if (f.ref[k] == REF_UNDEF)
				pre[out->n++] = (int)k;
		out->prebound = pre;
	}
	if (!rc)
		rc = nested_frames(an, &f, body);
	free(f.ref);
	return rc;
}

/* mark_loop_use: sets uses_loop on every for whose body (including nested loops, as
 * Jinja's find_undeclared does) names `loop`. */
static bool expr_names(const struct expr *e, int sym);

bool
stmts_name(struct stmt *s, int sym)
{
	bool any = false;

	for (; s; s = s->next) {
		if (expr_names(s->e, sym))
			any = true;
		if (s->kind == ST_FOR) {
			s->uses_loop = stmts_name(s->body, sym);
			if (s->uses_loop)
				any = true;
			if (stmts_name(s->orelse, sym))
				any = true;
		} else {
			/* Both branches are walked: nested loops need their flag set. */
			bool in_body = stmts_name(s->body, sym);
			bool in_else = stmts_name(s->orelse, sym);
			if (in_body || in_else)
				any = true;
		}
	}
	return any;
}

static bool
expr_names(const struct expr *e, int sym)
{
	if (!e)
		return false;
	if (e->kind == EX_NAME && e->sym == sym)
		return true;
	if (expr_names(e->a, sym) || expr_names(e->b, sym) || expr_names(e->c, sym))
		return true;
	for (size_t k = 0; k < e->nargs; k++)
		if (expr_names(e->args[k], sym))
			return true;
	return false;
}
