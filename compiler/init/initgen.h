/* initgen.h — /init generated from the manifest's init: section, as a BusyBox
 * sh script.  It prints "rdc-exit: N" on the console when the steps end so
 * `rdc run` can exit with the guest's status. */
#ifndef RDC_INITGEN_H
#define RDC_INITGEN_H
#include "manifest/manifest.h"
#include "resolve/modclosure.h"
#include "lib/util.h"

#define INITGEN_EXIT_TAG "rdc-exit: "

/* The script for /init.  mods may be NULL (no kmods). */
int initgen_script(const struct manifest *m, const struct modclosure *mods, struct strbuf *out);
/* True when the generated init needs /bin/busybox in the image. */
bool initgen_needs_busybox(const struct manifest *m);
/* True for a name init.mounts accepts (proc, sysfs, devtmpfs ...); the
 * manifest reader rejects the others. */
bool initgen_mount_known(const char *name);

#endif
