/* cli.h — the commands: one file each in cli/, usage at its top, argv in,
 * one call into the pipeline, an exit status out (0 ok, 1 bad input or a
 * failed build, 2 usage; `rdc run` adds the guest's, see run/runner.h). */
#ifndef RDC_CLI_H
#define RDC_CLI_H
int cmd_build(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_deps(int argc, char **argv);
int cmd_kmods(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* rdc import's reader and writer, for the fuzzer: the list `text` (named
 * `list` in messages; may be changed) becomes manifest text in *yaml as if
 * written to `out` (NULL: stdout).  -1 after messages. */
struct strbuf;
int import_text(const char *list, struct strbuf *text, const char *out, struct strbuf *yaml);
int cmd_cache(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_schema(int argc, char **argv); /* hidden: make schema */

/* Each command's usage, at the top of its file: printed for --help and -h
 * (by main.c only, on stdout: no command parses them) and for a usage error
 * (by the command, on stderr). */
extern const char usage_build[], usage_list[], usage_check[], usage_explain[], usage_run[], usage_test[],
	usage_deps[], usage_kmods[], usage_ls[], usage_extract[], usage_diff[], usage_import[], usage_schema[];
extern const char usage_cache[];

/* The default cache, or NULL after a warning (common.c). */
struct cas;
struct cas *cli_cache_or_none(void);

/* Shared by the commands that print image entries (ls.c). */
#include <stdio.h>
const char *entry_type_name(unsigned mode); /* "file", "dir", "symlink", "char" ... */
void mode_string(unsigned mode, char out[11]); /* "-rwxr-xr-x", as ls -l */
/* True, after saying so, when `path` (given to `command`, which wants a
 * manifest or a list) is plainly something else: an initramfs image (the
 * message names `rdc ls`), a kernel image or an ELF file. */
#include <stdbool.h>
bool cli_wrong_file(const char *path, const char *command);
bool cli_file_is_image(const char *path); /* an initramfs image, silently */
const char *cli_file_kind(const char *path); /* "an x86 kernel image (bzImage)" ..., or NULL */
#endif
