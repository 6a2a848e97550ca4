/* output.c — which format and compressor an output gets: from its path's
 * suffix, then the words of the manifest or the command line. */
#include "emit/emit_int.h"
#include "lib/tempfile.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>
#include "cache/remote.h"
#include "lib/util.h"

/* ---- choosing the format ---------------------------------------------- */

/* The names and suffixes are lib/output.c's table. */
#define algo_names (output_algo_names())
#define format_names (output_format_names())

const char *emit_algo_name(enum emit_algo a) { return output_algos[a].name; }
const char *emit_format_name(enum emit_format f) { return output_formats[f].name; }

static int index_of(const char *word, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(word, names[i]))
			return i;
	return -1;
}

bool emit_format_known(const char *format)
{
	if (index_of(format, format_names, EF_COUNT) >= 0)
		return true;
	const char *close = diag_closest(format, format_names, EF_COUNT);
	fprintf(stderr, "rdc: --format %s: one of", format);
	for (int i = 0; i < EF_COUNT; i++)
		fprintf(stderr, "%s %s", i ? "," : "", format_names[i]);
	if (close)
		fprintf(stderr, " (did you mean '%s'?)", close);
	fputc('\n', stderr);
	return false;
}

const char *emit_default_suffix(const char *format, const char *algo)
{
	int f = format ? index_of(format, format_names, EF_COUNT) : -1;
	int a = algo ? index_of(algo, algo_names, EA_COUNT) : -1;
	if (f > EF_CPIO)
		return output_formats[f].suffix;
	return output_algos[a >= 0 ? a : EA_ZSTD].suffix;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* The format and compression a name asks for; returns true when the name
 * spells a compression (.cpio: none) rather than leaving it open (.img). */
static bool choose_from_suffix(const char *path, struct emit_opts *o)
{
	o->format = EF_CPIO;
	o->algo = EA_ZSTD;
	if (!path)
		return false;
	/* x.gz, x.cpio.zst ... (any case), x.cpio: a cpio image so compressed */
	for (int a = 0; a < EA_COUNT; a++) {
		const char *ext = output_algos[a].ext ? output_algos[a].ext : output_algos[a].suffix;
		if (ends_with_nocase(path, ext)) {
			o->algo = a;
			return true;
		}
	}
	for (int f = EF_CPIO + 1; f < EF_COUNT; f++)
		if (ends_with(path, output_formats[f].suffix) ||
		    (output_formats[f].alt && ends_with(path, output_formats[f].alt))) {
			o->format = f;
			o->algo = EA_NONE;
			return false;
		}
	return false;
}

bool emit_suffix_names(const char *path, enum emit_format *format)
{
	struct emit_opts o;
	bool compression = choose_from_suffix(path, &o);
	if (format)
		*format = o.format;
	return compression || o.format != EF_CPIO;
}

/* Compressions the kernel may take but rdc does not write: a name ending so
 * would be a lie about its content. */
static const char *unwritten_suffix(const char *path)
{
	static const char *const other[] = { ".bz2", ".lzma", ".lzo", ".zip", ".tar", ".tgz", ".7z", ".br", ".lz" };
	for (size_t i = 0; path && i < sizeof(other) / sizeof(other[0]); i++)
		if (ends_with_nocase(path, other[i]))
			return other[i];
	return NULL;
}

static int pick(const char *word, const char *const *names, int n, const struct loc *loc, const char *what)
{
	int i = index_of(word, names, n);
	if (i >= 0)
		return i;
	struct strbuf hint = STRBUF_INIT;
	sb_adds(&hint, "one of:");
	for (int i = 0; i < n; i++)
		sb_addf(&hint, " %s", names[i]);
	const char *close = diag_closest(word, names, n);
	if (close)
		sb_addf(&hint, " (did you mean '%s'?)", close);
	if (loc)
		diag_error(loc, hint.buf, "unknown %s '%s'", what, word);
	else
		diag_error(NULL, NULL, "unknown %s '%s'; %s", what, word, hint.buf);
	sb_release(&hint);
	return -1;
}

bool emit_algo_known(const char *algo) { return pick(algo, algo_names, EA_COUNT, NULL, "compression") >= 0; }

int emit_check_level(const struct emit_opts *o, const struct loc *loc)
{
	const struct output_algo *al = &output_algos[o->algo];
	if (o->level < 0 || o->algo == EA_NONE || (o->level >= al->min && o->level <= al->max))
		return 0;
	char *hint = xasprintf("%s takes levels %d-%d", al->name, al->min, al->max);
	if (loc && loc->line)
		diag_error(loc, hint, "compression level %d is out of range", o->level);
	else
		diag_error(NULL, NULL, "compression level %d is out of range: %s", o->level, hint);
	free(hint);
	return -1;
}

int emit_choose(const char *path, const char *format, const char *algo, const struct loc *loc,
		struct emit_opts *o)
{
	const char *bad = unwritten_suffix(path);
	if (bad) {
		const char *hint = "name it .cpio, .cpio.gz, .cpio.zst, .cpio.xz or .cpio.lz4 (or .img and say compression:)";
		if (loc && loc->line)
			diag_error(loc, hint, "rdc does not write %s files (%s)", bad, path);
		else
			diag_error(NULL, NULL, "rdc does not write %s files (%s); %s", bad, path, hint);
		return -1;
	}
	bool named = choose_from_suffix(path, o);
	enum emit_algo by_name = o->algo;
	if (format) {
		int f = pick(format, format_names, EF_COUNT, loc, "output format");
		if (f < 0)
			return -1;
		if (!named || (enum emit_format)f != o->format)
			o->algo = EA_NONE; /* --format cpio on "x.img" means plain cpio */
		o->format = f;
	}
	if (algo) {
		int a = pick(algo, algo_names, EA_COUNT, loc, "compression");
		if (a < 0)
			return -1;
		if (named && o->format == EF_CPIO && (enum emit_algo)a != by_name) {
			const char *hint = "rename the output, or drop compression: and let the name decide";
			if (loc && loc->line)
				diag_error(loc, hint, "the output %s is named for %s, but compression is %s", path,
					   output_algos[by_name].name, output_algos[a].name);
			else
				diag_error(NULL, NULL, "the output %s is named for %s, but compression is %s", path, output_algos[by_name].name,
					  output_algos[a].name);
			return -1;
		}
		o->algo = a;
	}
	if (o->format != EF_CPIO && algo && o->algo != EA_NONE) {
		/* lists, C arrays and directories are never compressed: say so */
		const char *hint = "a .c or .S embeds the plain cpio (the kernel's build compresses it); drop compression:";
		if (loc && loc->line)
			diag_error(loc, hint, "a %s output cannot be compressed (compression: %s)", output_formats[o->format].name,
				   output_algos[o->algo].name);
		else
			diag_error(NULL, NULL, "a %s output cannot be compressed (--compression %s); %s", output_formats[o->format].name,
				  output_algos[o->algo].name, hint);
		return -1;
	}
	if (o->format != EF_CPIO)
		o->algo = EA_NONE;
	if (o->algo == EA_NONE || o->algo == EA_LZ4)
		o->single_segment = true; /* lz4 swallows what follows it: one stream */
	return 0;
}
