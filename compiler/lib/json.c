/* json.c — see json.h.  Output only: rdc never reads JSON it did not write. */
#include "lib/json.h"
#include <string.h>

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlongs, surrogates or code points past U+10FFFF), 0 if there is none. */
static int utf8_len(const unsigned char *p)
{
	int n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (p[0] > 0xf4 || !n)
		return 0;
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int n;
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else if (*p < 0x80)
				putc(*p, f);
			else if ((n = utf8_len(p)) > 0)
				fwrite(p, 1, (size_t)n, f), p += n - 1;
			else /* a byte that is not UTF-8 (paths are bytes): Python's surrogateescape,
			      * so the output stays valid UTF-8 and json.loads gives the bytes back */
				fprintf(f, "\\udc%02x", *p);
		}
	}
	putc('"', f);
}

/* The comma and the key before a value. */
static void member(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		putc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		json_string(j->f, key);
		putc(':', j->f);
	}
}

static void open_level(struct json *j, const char *key, int c)
{
	member(j, key);
	putc(c, j->f);
	if (j->depth + 1 < (int)(sizeof(j->first) / sizeof(j->first[0])))
		j->depth++;
	j->first[j->depth] = true;
}

static void close_level(struct json *j, int c)
{
	putc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void json_object_begin(struct json *j, const char *key) { open_level(j, key, '{'); }
void json_object_end(struct json *j) { close_level(j, '}'); }
void json_array_begin(struct json *j, const char *key) { open_level(j, key, '['); }
void json_array_end(struct json *j) { close_level(j, ']'); }

void json_str(struct json *j, const char *key, const char *value)
{
	member(j, key);
	json_string(j->f, value);
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
	member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)value);
}

void json_bool(struct json *j, const char *key, bool value)
{
	member(j, key);
	fputs(value ? "true" : "false", j->f);
}

void json_double(struct json *j, const char *key, double value)
{
	member(j, key);
	fprintf(j->f, "%.3f", value);
}

void json_done(struct json *j) { putc('\n', j->f); }
