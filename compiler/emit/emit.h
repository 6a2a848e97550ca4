/* emit.h — the Plan becomes bytes: a gen_init_cpio list, a cpio newc image
 * (one stream, or segments compressed on their own and cached), a C array,
 * an assembler .incbin file, or an unpacked directory. */
#ifndef RDC_EMIT_H
#define RDC_EMIT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/output.h" /* enum emit_format, enum emit_algo: the one table */
#include "plan/plan.h"


/* The first line of every list rdc writes (rdc import recognises it). */
#define RDC_LIST_HEADER "# gen_init_cpio list written by rdc; file locations are in its cache"

/* What a write did, for the summary line and --json (counted by the
 * segment workers, hence atomic). */
struct emit_stats {
	atomic_size_t segments_built, segments_reused, segments_total;
};

struct emit_opts {
	enum emit_format format;
	enum emit_algo algo;
	int level;           /* -1: the compressor's default */
	bool single_segment; /* one stream instead of cached segments */
	int jobs;            /* parallel segment compressors; 0: all cores */
	uint32_t mtime;      /* every entry's mtime */
	const struct loc *loc; /* the manifest's output: line when it named the path, else NULL */
	bool dir_special;    /* -o DIR/: create device nodes, keep setuid/setgid bits */
	struct emit_stats *stats; /* may be NULL */
	bool progress;        /* a live "segments done" line on stderr (a tty) */
	/* Work for a core the parallel writers leave idle at their end (may be
	 * NULL): run once, by the first writer that finds nothing left to take,
	 * while the others finish theirs.  It must not touch the plan's hashes,
	 * and may never run (one writer, a pipe): its caller then does it. */
	void (*spare)(void *arg);
	void *spare_arg;
};

/* Fill format and algo from an output path's suffix (".cpio.zst", ".c" ...)
 * and then from the explicit words, which win when not NULL.  Reports a bad
 * word at loc (may be NULL: a command-line flag) and returns -1. */
/* A level the chosen compressor cannot take is an error at loc. */
int emit_check_level(const struct emit_opts *o, const struct loc *loc);
int emit_choose(const char *path, const char *format, const char *algo, const struct loc *loc,
		struct emit_opts *o);
/* A compressed cpio of cached segments (gzip, zstd, xz): its pending files
 * (hash unknown) may stay pending until emit_write, which hashes them as it
 * compresses the segments that hold only such files. */
bool emit_is_segmented(const struct emit_opts *o);
const char *emit_algo_name(enum emit_algo a);
const char *emit_format_name(enum emit_format f);
/* For --compression: false, after saying what the choices are. */
bool emit_algo_known(const char *algo);
/* For --format on the command line: false, after saying what the choices
 * are, when `format` is none of them. */
bool emit_format_known(const char *format);
/* The suffix an output holding `format` and `algo` (manifest words, either
 * NULL) is named with: ".cpio.zst", ".cpio.xz", ".c", "/" ... */
const char *emit_default_suffix(const char *format, const char *algo);

/* A key naming exactly the bytes emit_write would produce for this plan. */
void emit_image_key(const struct plan *p, const struct emit_opts *o, struct cas_hash *key);

/* Write the image to `path` atomically (temporary file beside it, renamed).
 * path "-" writes a list to stdout.  Returns 0 or -1 after a message.
 * `written` (may be NULL) gets the dev and inode of the file written (they
 * survive the rename into place), so a caller can tell its file from one a
 * concurrent build renamed over it; it is left alone for "-" and dir/. */
struct stat;
int emit_write(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path,
	       struct stat *written);

/* The second file a format writes beside `path` (NAME.S's NAME.cpio), or
 * NULL; caller frees.  It gets every check the main output gets. */
char *emit_companion(const struct emit_opts *o, const char *path);
/* Does the regular file at `path` begin the way something emit writes does
 * (a cpio, a compressed stream, rdc's C, .S or list header)?  An output the
 * manifest names may replace only such a file (or nothing). */
bool emit_is_output(const char *path);
/* True when path's suffix names what it holds (.cpio.zst, .cpio, .list,
 * .c, .S, dir/ ...; not .img); *format gets that format (may be NULL). */
bool emit_suffix_names(const char *path, enum emit_format *format);

/* The gen_init_cpio list: file lines point into the cache. */
int emit_list(const struct plan *p, struct cas *cas, FILE *out);

#endif
