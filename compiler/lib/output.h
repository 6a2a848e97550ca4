/* output.h — the one table of output formats and of compressors: their
 * names (the manifest's output.format and compression words, --format and
 * --compression), the suffix an output is named with, and each
 * compressor's levels.  The manifest reader and its schema take the words
 * from here, emit/ writes by them; adding a compressor is a row here and
 * its code in emit.c. */
#ifndef RDC_OUTPUT_H
#define RDC_OUTPUT_H

enum emit_format { EF_CPIO, EF_LIST, EF_C, EF_S, EF_DIR };
enum emit_algo { EA_NONE, EA_GZIP, EA_ZSTD, EA_XZ, EA_LZ4 };
#define EF_COUNT (EF_DIR + 1) /* not enum members: switches stay exhaustive */
#define EA_COUNT (EA_LZ4 + 1)

struct output_format {
	const char *name;
	const char *suffix;   /* what an output of it is named (NULL: by its compressor, .cpio.*) */
	const char *alt;      /* another suffix that means it, or NULL */
};

struct output_algo {
	const char *name;
	const char *ext;      /* the compression's own suffix: x.gz, x.cpio.gz (NULL: none) */
	const char *suffix;   /* what a cpio image compressed so is named */
	int min, max, def;    /* levels it takes, and the one it gets */
	int quick;            /* the highest level that compresses >= 100 MB/s on a core
	                       * (0: none): a segmented image of it is joined as its
	                       * segments finish (see emit/segments.c) */
};

extern const struct output_format output_formats[EF_COUNT];
extern const struct output_algo output_algos[EA_COUNT];
/* The level a compressor runs at: `level`, or its default when < 0. */
int output_level(enum emit_algo algo, int level);
/* The names, NULL-terminated, in the order of the enums. */
const char *const *output_format_names(void);
const char *const *output_algo_names(void);

#endif
