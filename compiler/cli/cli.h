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
int cmd_cache(int argc, char **argv);
int cmd_test(int argc, char **argv);
#endif
