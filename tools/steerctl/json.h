/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A minimal streaming JSON writer: it places commas and escapes strings, so the commands
 * only say what goes where. Output is compact, one document per line, or indented by four
 * spaces a level as iproute2's `-p` indents it. */
#ifndef STEERCTL_JSON_H
#define STEERCTL_JSON_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#define JSON_MAX_DEPTH 8

struct json {
	FILE *f;
	unsigned depth;
	bool pretty;
	bool has_member[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *f, bool pretty);
/* `key` names the member inside an object and is NULL inside an array or at the top. */
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, __u64 val);
void json_i64(struct json *j, const char *key, long long val);
void json_bool(struct json *j, const char *key, bool val);
/* A member that is there or not, as iproute2 writes flags ("not": null). */
void json_null(struct json *j, const char *key);
/* A number already written out, as it goes into the document. */
void json_number(struct json *j, const char *key, const char *literal);
/* A number with `places` digits after the point (shares, percentages). */
void json_decimal(struct json *j, const char *key, double val, int places);

#endif
