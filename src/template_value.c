/* SPDX-License-Identifier: MIT */
/* The template engine's arena, values, Python's whitespace and the variables/lists API. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "template_int.h"

/* ------------------------------------------------------------------------------ */
/* Arena */

#define ARENA_CHUNK 16384
#define ARENA_ALIGN 16

#define CHUNK_HDR ((sizeof(struct arena_chunk) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

void
arena_init(struct arena *a, size_t max)
{
	a->head = NULL;
	a->total = 0;
	a->max = max;
	a->err = 0;
}

void
arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
	a->total = 0;
}

/* arena_alloc: n zeroed bytes, aligned; NULL (and a->err set) past the cap or on ENOMEM. */
void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < n)
		goto toobig;
	if (!c || c->size - c->used < need) {
		size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		if (size > a->max || a->total > a->max - size)
			goto toobig;
		c = malloc(CHUNK_HDR + size);
		if (!c) {
			a->err = ERR_NOMEM;
			return NULL;
		}
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->total += size;
	}
	p = (char *)c + CHUNK_HDR + c->used;
	c->used += need;
	memset(p, 0, n);
	return p;
toobig:
	a->err = ERR_TOOBIG;
	return NULL;
}

char *
arena_dup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p && n)
		memcpy(p, s, n);
	return p;
}

/* arena_grow: see template_int.h. */
void *
arena_grow(struct arena *a, const void *old, size_t n, size_t cap, size_t size)
{
	void *p;

	if (size && cap > SIZE_MAX / size) {
		a->err = ERR_TOOBIG;
		return NULL;
	}
	p = arena_alloc(a, cap * size);
	if (p && n)
		memcpy(p, old, n * size);
	return p;
}

/* ------------------------------------------------------------------------------ */
/* Python's notion of whitespace */

/* is_py_space: Python's str.isspace(), which is also what `\s` and str.strip() use. */
bool
is_py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* ------------------------------------------------------------------------------ */
/* Values */

struct tv
tv_undef(const char *name)
{
	struct tv v = {.type = TV_UNDEF};
	v.u.undef_name = name;
	return v;
}

struct tv
tv_int(long long i)
{
	struct tv v = {.type = TV_INT};
	v.u.i = i;
	return v;
}

struct tv
tv_bool(bool b)
{
	struct tv v = {.type = TV_BOOL};
	v.u.b = b;
	return v;
}

struct tv
tv_str(const char *p, size_t n, bool markup)
{
	struct tv v = {.type = TV_STR, .markup = markup};
	v.u.s.p = p;
	v.u.s.n = n;
	return v;
}

struct tv
tv_list(const struct template_list *l)
{
	struct tv v = {.type = TV_LIST};
	v.u.l = l;
	return v;
}

/* Owned values (caller variables and list items) free their strings and lists. */
static void
tv_release(struct tv *v)
{
	if (v->type == TV_STR)
		free((char *)v->u.s.p);
	else if (v->type == TV_LIST)
		template_list_free((struct template_list *)v->u.l);
	v->type = TV_NONE;
}

static int
tv_owned_str(struct tv *out, const char *value)
{
	size_t n;
	char *p;

	if (!value)
		return ERR_INVAL;
	n = strlen(value);
	if (n > TEMPLATE_MAX_VAR_BYTES)
		return ERR_TOOBIG;
	if (!utf8_is_valid(value, n))
		return ERR_INVAL;
	p = malloc(n + 1);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, value, n + 1);
	*out = tv_str(p, n, false);
	return 0;
}

/* ------------------------------------------------------------------------------ */
/* Public: variables and lists */

struct template_list *
template_list_new(void)
{
	return calloc(1, sizeof(struct template_list));
}

void
template_list_free(struct template_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		tv_release(&l->items[i]);
	free(l->items);
	free(l);
}

static int
list_push(struct template_list *l, struct tv v)
{
	if (!l) {
		tv_release(&v);
		return ERR_INVAL;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct tv *items = reallocarray(l->items, cap, sizeof(*items));
		if (!items) {
			tv_release(&v);
			return ERR_NOMEM;
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = v;
	return 0;
}

int
template_list_add_str(struct template_list *l, const char *value)
{
	struct tv v;
	int rc = tv_owned_str(&v, value);

	return rc ? rc : list_push(l, v);
}

int
template_list_add_int(struct template_list *l, long long value)
{
	return list_push(l, tv_int(value));
}

int
template_list_add_bool(struct template_list *l, bool value)
{
	return list_push(l, tv_bool(value));
}

int
template_list_add_none(struct template_list *l)
{
	struct tv v = {.type = TV_NONE};
	return list_push(l, v);
}

int
template_list_add_list(struct template_list *l, struct template_list *item)
{
	if (!item)
		return ERR_INVAL;
	return list_push(l, tv_list(item));
}

struct template_vars *
template_vars_new(void)
{
	return calloc(1, sizeof(struct template_vars));
}

void
template_vars_free(struct template_vars *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->v[i].name);
		tv_release(&v->v[i].val);
	}
	free(v->v);
	free(v);
}

static bool
is_ident(const char *s)
{
	if (!s || !*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

struct var *
vars_find(const struct template_vars *v, const char *name)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (strcmp(v->v[i].name, name) == 0)
			return &v->v[i];
	return NULL;
}

/* vars_set: stores `val` (ownership passes in, also on failure) under `name`. */
static int
vars_set(struct template_vars *v, const char *name, struct tv val)
{
	struct var *slot;

	if (!v || !is_ident(name) || strlen(name) > 255) {
		tv_release(&val);
		return ERR_INVAL;
	}
	slot = vars_find(v, name);
	if (slot) {
		tv_release(&slot->val);
		slot->val = val;
		return 0;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct var *nv = reallocarray(v->v, cap, sizeof(*nv));
		if (!nv) {
			tv_release(&val);
			return ERR_NOMEM;
		}
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n].name = strdup(name);
	if (!v->v[v->n].name) {
		tv_release(&val);
		return ERR_NOMEM;
	}
	v->v[v->n++].val = val;
	return 0;
}

int
template_vars_set_str(struct template_vars *v, const char *name, const char *value)
{
	struct tv val;
	int rc = tv_owned_str(&val, value);

	return rc ? rc : vars_set(v, name, val);
}

int
template_vars_set_int(struct template_vars *v, const char *name, long long value)
{
	return vars_set(v, name, tv_int(value));
}

int
template_vars_set_bool(struct template_vars *v, const char *name, bool value)
{
	return vars_set(v, name, tv_bool(value));
}

int
template_vars_set_none(struct template_vars *v, const char *name)
{
	struct tv val = {.type = TV_NONE};
	return vars_set(v, name, val);
}

int
template_vars_set_list(struct template_vars *v, const char *name, struct template_list *list)
{
	if (!list)
		return ERR_INVAL;
	return vars_set(v, name, tv_list(list));
}

int
template_vars_unset(struct template_vars *v, const char *name)
{
	struct var *slot = name ? vars_find(v, name) : NULL;

	if (!slot)
		return 0;
	free(slot->name);
	tv_release(&slot->val);
	*slot = v->v[--v->n];
	return 0;
}
