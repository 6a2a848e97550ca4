/* json.h — writing JSON for --json output: strings escaped per RFC 8259,
 * objects and arrays with the commas placed for the caller. */
#ifndef RDC_JSON_H
#define RDC_JSON_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;
	int depth;
	bool first[16]; /* per nesting level: nothing written yet */
};

void json_init(struct json *j, FILE *f);
void json_string(FILE *f, const char *s); /* "s", escaped; NULL writes null */
void json_object_begin(struct json *j, const char *key); /* key NULL: in an array or at the top */
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_str(struct json *j, const char *key, const char *value);
void json_u64(struct json *j, const char *key, uint64_t value);
void json_bool(struct json *j, const char *key, bool value);
void json_double(struct json *j, const char *key, double value);
/* Ends the document with a newline. */
void json_done(struct json *j);

#endif
