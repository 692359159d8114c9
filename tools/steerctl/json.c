/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The JSON writer behind `steerctl -j`. Interface names are the only free text it sees;
 * they may hold any byte, so strings are escaped to stay valid JSON whatever they hold. */
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
}

/* Pretty output starts every member and every closing bracket on a line of its own. */
static void indent(struct json *j, unsigned depth)
{
	unsigned i;

	fputc('\n', j->f);
	for (i = 0; i < depth; i++)
		fputs("    ", j->f);
}

/* Length of the valid UTF-8 sequence at s, or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and code points past U+10FFFF. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void put_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n = utf8_len(s);

		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s < 0x20 || *s == 0x7f || n == 0) {
			/* Control characters, and bytes that are not UTF-8, as the code point
			 * of the same number: lossy for the latter, but always valid JSON. */
			fprintf(f, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
	fputc('"', f);
}

static void member(struct json *j, const char *key)
{
	/* Nesting is fixed by the commands and never deeper than JSON_MAX_DEPTH. */
	if (j->depth > 0 && j->depth <= JSON_MAX_DEPTH) {
		if (j->has_member[j->depth - 1])
			fputc(',', j->f);
		j->has_member[j->depth - 1] = true;
		if (j->pretty)
			indent(j, j->depth);
	}
	if (key) {
		put_string(j->f, key);
		fputs(j->pretty ? ": " : ":", j->f);
	}
}

static void nest_open(struct json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH)
		j->has_member[j->depth] = false;
	j->depth++;
}

static void nest_close(struct json *j, char c)
{
	/* An empty container stays "{}" or "[]" on one line. */
	if (j->pretty && j->depth > 0 && j->depth <= JSON_MAX_DEPTH && j->has_member[j->depth - 1])
		indent(j, j->depth - 1);
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_obj_open(struct json *j, const char *key) { nest_open(j, key, '{'); }
void json_obj_close(struct json *j) { nest_close(j, '}'); }
void json_arr_open(struct json *j, const char *key) { nest_open(j, key, '['); }
void json_arr_close(struct json *j) { nest_close(j, ']'); }

void json_str(struct json *j, const char *key, const char *val)
{
	member(j, key);
	put_string(j->f, val);
}

void json_u64(struct json *j, const char *key, __u64 val)
{
	member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void json_i64(struct json *j, const char *key, long long val)
{
	member(j, key);
	fprintf(j->f, "%lld", val);
}

void json_null(struct json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void json_bool(struct json *j, const char *key, bool val)
{
	member(j, key);
	fputs(val ? "true" : "false", j->f);
}

void json_number(struct json *j, const char *key, const char *literal)
{
	member(j, key);
	fputs(literal, j->f);
}

void json_decimal(struct json *j, const char *key, double val, int places)
{
	member(j, key);
	fprintf(j->f, "%.*f", places, val);
}
