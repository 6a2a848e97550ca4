/* runner.h — `rdc run`: build, boot in QEMU, exit with the guest's status. */
#ifndef RDC_RUNNER_H
#define RDC_RUNNER_H

/* Exit statuses of `rdc run` besides the guest's own 0..125: */
#define RUN_EXIT_NO_STATUS 124 /* the guest ended without reporting (panic, watchdog, poweroff) */
#define RUN_EXIT_TIMEOUT   125 /* --timeout expired; QEMU was killed */

int cmd_run(int argc, char **argv);

#endif
