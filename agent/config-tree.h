/* A YAML document as a small tree of nodes that remember where they were written, built
 * from libyaml's events with hard bounds: no anchors or aliases, limited depth and size. */
#ifndef STEER_CONFIG_TREE_H
#define STEER_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };

struct ynode {
	enum ynode_kind kind;
	unsigned line, col;	/* 1-based */
	char *value;		/* scalars */
	bool plain;		/* an unquoted scalar (so `null` and `~` mean nothing) */
	/* Maps hold key, value, key, value...; sequences hold items. */
	struct ynode **kids;
	size_t nkids;
};

/* Returns the document's root (NULL for an empty document) or sets msg and returns -EINVAL
 * / -ENOMEM. */
int ytree_parse(const char *text, size_t len, size_t max_depth, size_t max_nodes,
		struct ynode **root, char *msg, size_t msglen, unsigned *line, unsigned *col);
void ytree_free(struct ynode *n);

/* A plain null: an empty value, `~` or `null`. */
bool ynode_is_null(const struct ynode *n);

#endif
