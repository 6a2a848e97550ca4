/* record.h — the whole-build record: a build where nothing changed costs a
 * stat per input and resolves nothing.
 *
 * After a successful build the record remembers everything its output
 * depended on (the manifest files, every input the resolvers looked at,
 * present or absent, every source, the variables the manifest expanded,
 * rdc's own binary and libraries, the options, the output itself); the
 * next build of the same output checks that record before anything else
 * and, when every identity is unchanged, leaves the output alone.  Any
 * doubt (a damaged record, an input changed too recently to be trusted, a
 * different option) is a full build.  All calls accept a NULL record. */
#ifndef RDC_RECORD_H
#define RDC_RECORD_H
#include <stdbool.h>
#include "build/build.h"
#include "cache/cas.h"
#include "emit/emit.h"

struct record;

/* The record of a build of m with o into `path` (written as eo says), or
 * NULL where none applies: rdc check, stdout, lists (they name cache
 * objects, re-checked on every build), trees, kernel.share. */
struct record *record_new(struct cas *cas, const struct manifest *m, const struct build_opts *o,
			  const struct emit_opts *eo, const char *path);
/* True when the record says the output is current: r is filled as the
 * build would have (r->unchanged), the warnings it printed are printed
 * again, and nothing needs resolving. */
bool record_current(struct record *rec, struct build_result *r);
/* Between on and off, what the resolvers read (their memos' inputs) and
 * what rdc says (warnings, notes) is the record's. */
void record_watch(struct record *rec, bool on);
/* The identities of every input the output depends on but itself, noted
 * once: by the emit's spare core while the last pieces of the image are
 * written (emit_opts.spare), else by record_save.  Noting them before some
 * sources are read is as safe as after: a source changed later differs
 * from what is noted (the next build rebuilds), and one changed between
 * its read and the note has a timestamp after the build started, which
 * makes the record racy (never trusted).  Thread-safe; only after the plan
 * is made (record_watch off). */
void record_note_inputs(struct record *rec, const struct plan *p);
/* After a successful build: the record of it, with the plan's sources and
 * the image key of what the output holds. */
void record_save(struct record *rec, const struct plan *p, const struct cas_hash *key, const struct build_result *r);
void record_free(struct record *rec);

#endif
