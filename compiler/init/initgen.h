/* initgen.h — /init generated from the manifest's init: section, as a BusyBox
 * sh script.  It prints "rdc-exit: N" on the console when the steps end so
 * `rdc run` can exit with the guest's status. */
#ifndef RDC_INITGEN_H
#define RDC_INITGEN_H
#include "manifest/manifest.h"
#include "resolve/modclosure.h"
#include "lib/util.h"

#define INITGEN_EXIT_TAG "rdc-exit: "

/* The script for /init.  mods may be NULL (no kmods); kver is the kernel
 * release (NULL: none), which kernel.share mounts the shared modules under. */
int initgen_script(const struct manifest *m, const struct modclosure *mods, const char *kver, struct strbuf *out);
/* kernel.share: 9p — the mount tags `rdc run` gives the two read-only
 * virtio-9p shares: the module indexes (mounted at /lib/modules/<release>)
 * and the build tree (at .../kernel, where modules.dep's paths point). */
#define INITGEN_SHARE_INDEX_TAG "rdc-modules"
#define INITGEN_SHARE_TREE_TAG "rdc-tree"
/* True when the generated init needs /bin/busybox in the image. */
bool initgen_needs_busybox(const struct manifest *m);

#endif
