/* libyaml's event stream -> struct ynode tree. The schema walk (config.c) then reads the
 * tree with every node's position at hand for messages. Hostile files are bounded here:
 * aliases are refused outright (no "billion laughs"), and so is nesting or a node count
 * far beyond what the schema can use. */
#include "config-tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
	struct ynode *stack[64];
	size_t depth, max_depth, nodes, max_nodes;
	struct ynode *root;
};

void ytree_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ytree_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

bool ynode_is_null(const struct ynode *n)
{
	return n->kind == YNODE_SCALAR && n->plain &&
	       (!n->value[0] || !strcmp(n->value, "~") || !strcmp(n->value, "null") ||
		!strcmp(n->value, "Null") || !strcmp(n->value, "NULL"));
}

static int add_kid(struct ynode *parent, struct ynode *kid)
{
	struct ynode **k;

	if ((parent->nkids & (parent->nkids - 1)) == 0) {
		size_t cap = parent->nkids ? parent->nkids * 2 : 4;

		k = realloc(parent->kids, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		parent->kids = k;
	}
	parent->kids[parent->nkids++] = kid;
	return 0;
}

/* Hangs a new node under the open collection (or makes it the root). */
static int place(struct builder *b, struct ynode *n)
{
	if (!b->depth) {
		if (b->root) {
			ytree_free(n);
			return -EINVAL;
		}
		b->root = n;
		return 0;
	}
	if (add_kid(b->stack[b->depth - 1], n) < 0) {
		ytree_free(n);
		return -ENOMEM;
	}
	return 0;
}

static struct ynode *new_node(struct builder *b, enum ynode_kind kind, const yaml_mark_t *mark)
{
	struct ynode *n;

	if (++b->nodes > b->max_nodes)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	return n;
}

/* A bad byte (a control character, broken UTF-8) is found by libyaml's reader, which gives
 * its byte offset but no mark: find the line and column, and say which byte it was. */
static void reader_error_at(const char *text, size_t len, const yaml_parser_t *parser, char *msg,
			    size_t msglen, unsigned *line, unsigned *col)
{
	size_t off = parser->problem_offset < len ? parser->problem_offset : len, used = strlen(msg);

	*line = *col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			(*col)++;	/* characters, as libyaml counts them, not UTF-8 continuation bytes */
		}
	}
	if (parser->problem_value >= 0 && used < msglen)
		snprintf(msg + used, msglen - used, " (0x%02x)", (unsigned)parser->problem_value);
}

/* A scalar, or the start of a mapping or sequence: a new node, placed under the open one. */
static int open_node(struct builder *b, const yaml_event_t *ev, char *msg, size_t msglen)
{
	const yaml_char_t *anchor = ev->type == YAML_SCALAR_EVENT ? ev->data.scalar.anchor
		: ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
		: ev->data.sequence_start.anchor;
	struct ynode *n;
	int r;

	if (anchor) {
		snprintf(msg, msglen, "anchors (&name) are not supported; write the value out");
		return -EINVAL;
	}
	n = new_node(b, ev->type == YAML_SCALAR_EVENT ? YNODE_SCALAR
			: ev->type == YAML_MAPPING_START_EVENT ? YNODE_MAP : YNODE_SEQ,
		     &ev->start_mark);
	if (!n) {
		snprintf(msg, msglen, b->nodes > b->max_nodes ? "more than %zu values; this is not a steer configuration"
							      : "out of memory", b->max_nodes);
		return b->nodes > b->max_nodes ? -EINVAL : -ENOMEM;
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (!n->value || memchr(ev->data.scalar.value, 0, ev->data.scalar.length)) {
			snprintf(msg, msglen, n->value ? "a value holds a NUL byte" : "out of memory");
			r = n->value ? -EINVAL : -ENOMEM;
			ytree_free(n);
			return r;
		}
		return place(b, n);
	}
	if (b->depth >= b->max_depth) {
		snprintf(msg, msglen, "nested deeper than %zu levels; the schema has at most 5", b->max_depth);
		ytree_free(n);
		return -EINVAL;
	}
	r = place(b, n);
	if (!r)
		b->stack[b->depth++] = n;
	return r;
}

int ytree_parse(const char *text, size_t len, size_t max_depth, size_t max_nodes,
		struct ynode **root, char *msg, size_t msglen, unsigned *line, unsigned *col)
{
	struct builder b = { .max_depth = max_depth < 64 ? max_depth : 64, .max_nodes = max_nodes };
	yaml_parser_t parser;
	yaml_event_t ev;
	int r = 0, docs = 0;
	bool done = false;

	*root = NULL;
	*line = *col = 0;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(msg, msglen, "not valid YAML: %s%s%s", parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			*line = (unsigned)parser.problem_mark.line + 1;
			*col = (unsigned)parser.problem_mark.column + 1;
			if (parser.error == YAML_READER_ERROR)
				reader_error_at(text, len, &parser, msg, msglen, line, col);
			r = -EINVAL;
			break;
		}
		*line = (unsigned)ev.start_mark.line + 1;
		*col = (unsigned)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				snprintf(msg, msglen, "more than one YAML document; steer reads exactly one");
				r = -EINVAL;
			}
			break;
		case YAML_ALIAS_EVENT:
			snprintf(msg, msglen, "aliases (*name) are not supported; write the value out");
			r = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			r = open_node(&b, &ev, msg, msglen);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (b.depth)
				b.depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (r)
			break;
	}
	yaml_parser_delete(&parser);
	if (r) {
		ytree_free(b.root);
		if (r == -ENOMEM)
			snprintf(msg, msglen, "out of memory");
		return r;
	}
	*root = b.root;
	return 0;
}
