/* runner.c — `rdc run`: build the image, boot it in QEMU, exit with the
 * guest's status.
 *
 * (Its options are parsed in cli/run.c.)
 *
 * The image is built (incrementally) as `rdc build` would, then booted with
 * qemu-system-<arch>: the kernel is --kernel, else qemu.kernel, else
 * <sysroot>/boot/vmlinuz-<kernel.version>; KVM when a probe shows it works
 * (/dev/kvm can exist and fail), else TCG; the serial console on stdio; no
 * reboot.  The console streams to stdout as it arrives and is scanned for the
 * "rdc-exit[NONCE]: N" line the generated /init prints (initgen.h), for the
 * kernel's panic line (PID 1 exiting is one: "Attempted to kill init!
 * exitcode=0x..." gives its status), and for expect:'s regexes; QEMU's QMP
 * monitor on a socketpair (qmp.c) says when the watchdog fired and why QEMU
 * shut down.
 *
 * Exit status: the guest's N, or how it ended otherwise (runner.h: 122
 * watchdog, 123 panic, 124 no status, 125 timeout, 130 Ctrl-A x); with
 * expect: 0 when it ended as expected, else that code (121 where it is 0);
 * 1 for a failed build or a QEMU that could not start; 2 for usage errors.
 * The timeout is --timeout, else qemu.timeout, else 300 s (1800 s for
 * on_exit: shell); 0 means none.
 *
 * The pieces, one job a file: kernel.c picks the kernel, kvm.c the
 * accelerator, qemu.c writes the command line, console.c runs one boot and
 * reads its console, verdict.c says how it ended; qmp.c is QEMU's monitor,
 * watch.c --watch's inotify, suite.c `rdc test`. */
#include "run/runner.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "build/build.h"
#include "cache/cas.h"
#include "emit/emit.h"
#include "lib/arch.h"
#include "lib/diag.h"
#include "lib/util.h"
#include "manifest/manifest.h"

#define RUN_DEFAULT_TIMEOUT 300 /* seconds */
#define RUN_SHELL_TIMEOUT 1800  /* on_exit: shell: a forgotten console still ends */

char *run_absolute(const char *p)
{
	if (p[0] == '/' || !strcmp(p, "-"))
		return xstrdup(p);
	char *cwd = getcwd(NULL, 0);
	char *r = cwd ? path_join(cwd, p) : xstrdup(p);
	free(cwd);
	return r;
}

/* QEMU can boot a cpio, compressed or not; not a list, C source or tree. */
static bool bootable_output(const struct manifest *m, const char *path, const struct run_opts *o)
{
	enum emit_format f;
	if (emit_suffix_names(path, &f) && f != EF_CPIO)
		return false;
	if (!o->output && m->output.format && strcmp(m->output.format, "cpio"))
		return false;
	return true;
}

/* /init from files:, symlinks: or a tree copied to the root (which may hold one) */
static bool provides_init(const struct manifest *m)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (!strcmp(m->files[i].dest, "/init") || (m->files[i].tree && !strcmp(m->files[i].dest, "/")))
			return true;
	for (size_t i = 0; i < m->nsymlinks; i++)
		if (!strcmp(m->symlinks[i].path, "/init"))
			return true;
	return false;
}

/* --watch: the build's inputs and the manifest files, watched from now on. */
static void start_watch(struct watch *w, const struct manifest *m, const struct build_result *r)
{
	struct strlist all = STRLIST_INIT;
	for (size_t i = 0; i < r->inputs.n; i++)
		sl_push(&all, r->inputs.v[i]);
	for (size_t i = 0; i < m->file_names.n; i++)
		sl_push_owned(&all, run_absolute(m->file_names.v[i]));
	if (watch_start(w, &all) == 0)
		w->started = true;
	sl_release(&all);
}

/* Blocks until an input changes or a signal comes; true on a change. */
static bool wait_for_change(struct watch *w)
{
	fprintf(stderr, "rdc: watching %zu files for changes (^C ends)\n", w->files.n);
	while (!run_signal) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		if (poll(&p, 1, 1000) > 0 && watch_read(w))
			return true;
	}
	return false;
}

int run_watch(const struct run_opts *o)
{
	struct sigaction sa = { .sa_handler = run_on_signal }, old_int, old_term;
	while (!run_signal) {
		struct watch w = { .fd = -1 };
		struct run_opts ro = *o;
		ro.watcher = &w;
		struct manifest *m = manifest_load(o->manifest);
		if (m) {
			run_manifest(m, &ro);
			manifest_free(m);
		}
		if (!w.started) { /* it did not load (or not that far): watch the manifest itself */
			struct strlist one = STRLIST_INIT;
			sl_push_owned(&one, run_absolute(o->manifest));
			w.started = watch_start(&w, &one) == 0;
			sl_release(&one);
		}
		if (!w.started)
			return 1;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		bool changed = w.changed || wait_for_change(&w);
		if (changed) {
			usleep(200000); /* an editor's save is several events: take them as one */
			watch_read(&w);
			fprintf(stderr, "rdc: %s changed: rebuilding\n", w.changed);
		}
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		watch_stop(&w);
	}
	fprintf(stderr, "rdc: stopped watching (signal %d)\n", (int)run_signal);
	return 128 + run_signal;
}

static void print_dry_run(const struct run_opts *o, const char *cmd, const char *image)
{
	printf("%s\n", cmd);
	if (access(image, F_OK) < 0) {
		struct strbuf b = STRBUF_INIT;
		sb_adds(&b, "rdc build ");
		shell_word(&b, o->manifest);
		if (o->output) {
			sb_adds(&b, " -o ");
			shell_word(&b, o->output);
		}
		diag_note(NULL, NULL, "%s does not exist yet: `%s` makes it", image, b.buf);
		sb_release(&b);
	}
}

/* --dry-run: where the share would be, without writing it. */
static char *dry_share_dir(const struct manifest *m)
{
	bool err;
	char *kver = build_kernel_release(m, &err), *cache = kver ? cas_default_dir() : NULL;
	char *dir = cache ? build_share_dir(m, cache, kver) : NULL;
	free(cache);
	free(kver);
	return dir;
}

int run_manifest(struct manifest *m, const struct run_opts *o)
{
	const char *arch = m->arch ? m->arch : host_arch();
	const struct arch *a = arch_find(arch);
	if (!a) {
		char *hint = xasprintf("rdc run knows %s", arch_list());
		diag_error(m->arch_loc.line ? &m->arch_loc : NULL, hint, "no QEMU machine for arch '%s'", arch);
		free(hint);
		return 1;
	}
	bool native = arch_find(host_arch()) == a;
	struct build_opts bo = { .output = o->output, .compression = o->compression };
	char *out = build_output_path(m, &bo);
	if (!bootable_output(m, out, o)) {
		diag_error(m->output.loc.line ? &m->output.loc : NULL,
			   "rdc run needs a cpio image: give -o NAME.cpio.zst (or .cpio, .cpio.gz ...)",
			   "QEMU cannot boot %s as an initrd", out);
		free(out);
		return 1;
	}
	char *kernel = kernel_pick(m, o, a, !native);
	if (!kernel) {
		free(out);
		return 1;
	}
	if (!m->init.present && !provides_init(m)) { /* a boot that can only end in a panic */
		diag_error(NULL, "add an init: section (steps, or {exec: PATH}), or a file at /init",
			   "%s has no /init: the kernel would panic with nothing to run", o->manifest);
		free(kernel);
		free(out);
		return 1;
	}
	bool kvm = native && qemu_in_path(a->qemu) && kvm_works(a, !o->dry_run);
	bool interactive = m->init.present && !m->init.exec && m->init.on_exit && !strcmp(m->init.on_exit, "shell");
	int timeout = o->timeout >= 0 ? o->timeout : m->qemu.timeout >= 0 ? m->qemu.timeout
						   : interactive ? RUN_SHELL_TIMEOUT : RUN_DEFAULT_TIMEOUT;
	int rc = 0;
	char *image = NULL, *share = NULL;
	if (!o->dry_run && !qemu_in_path(a->qemu)) {
		char *hint = xasprintf("install %s (Debian: apt-get install %s)", a->qemu, a->qemu_package);
		diag_error(NULL, hint, "%s is not in PATH", a->qemu);
		free(hint);
		rc = 1;
	} else if (o->dry_run) {
		image = run_absolute(out);
		if (m->kernel.share && !(share = dry_share_dir(m)))
			rc = 1;
	} else {
		struct build_result r;
		bo.stage_share = true;
		if (build_manifest(m, &bo, &r) < 0) {
			rc = 1;
		} else {
			image = run_absolute(r.output);
			share = r.share ? xstrdup(r.share) : NULL;
		}
		if (o->watcher)
			start_watch(o->watcher, m, &r);
		build_result_free(&r);
	}
	if (!rc) {
		struct strlist av = STRLIST_INIT;
		/* a fresh nonce per boot; none in a printed command, which has
		 * nobody watching for the status */
		char nonce[17] = "", tag[40];
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)monotonic_ms() ^ ((uint64_t)getpid() << 32);
		snprintf(nonce, sizeof(nonce), "%016llx", (unsigned long long)r);
		snprintf(tag, sizeof(tag), "rdc-exit[%s]: ", nonce);
		const char *how = m->init.on_exit ? m->init.on_exit : "poweroff";
		bool powers_off = !m->init.exec && (!strcmp(how, "poweroff") || !strcmp(how, "reboot"));
		struct qmp q;
		if (!o->dry_run && qmp_open(&q) < 0) {
			diag_error(NULL, NULL, "socketpair: %s", strerror(errno));
			rc = 1;
		}
		qemu_argv(m, o, a, kvm, interactive, kernel, image, o->dry_run ? NULL : nonce, o->dry_run ? -1 : q.child_fd,
			  share, &av);
		char *cmd = qemu_command_line(&av);
		if (o->dry_run) {
			print_dry_run(o, cmd, image);
		} else if (!rc) {
			diag_info("%s", cmd);
			struct scan s;
			scan_init(&s, m, tag, interactive);
			rc = qemu_boot(m, &av, &q, o->watcher, timeout, &s, powers_off, o->report);
			scan_release(&s);
			qmp_close(&q);
		}
		free(cmd);
		sl_release(&av);
	}
	free(image);
	free(share);
	free(kernel);
	free(out);
	return rc;
}
