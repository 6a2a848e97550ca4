/* watch.c — `rdc run --watch`: has an input of the image changed?
 *
 * The inputs are what the build read: the plan's host sources and the
 * manifest files (build_result.inputs).  inotify watches their directories,
 * not the files: an editor that saves by writing a new file and renaming it
 * over the old one leaves a watch on the old inode blind, while the
 * directory sees the rename.  An event counts only when it names an input. */
#include "run/runner.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "lib/diag.h"

#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)

int watch_start(struct watch *w, const struct strlist *inputs)
{
	memset(w, 0, sizeof(*w));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		diag_error(NULL, NULL, "inotify: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < inputs->n; i++)
		sl_push(&w->files, inputs->v[i]);
	sl_sort(&w->files);
	for (size_t i = 0; i < w->files.n; i++) {
		char *dir = path_dirname(w->files.v[i]);
		if (sl_has(&w->dirs, dir)) {
			free(dir);
			continue;
		}
		int wd = inotify_add_watch(w->fd, dir, WATCH_EVENTS);
		if (wd < 0) { /* a directory we may not read: its files go unwatched */
			diag_info("cannot watch %s: %s", dir, strerror(errno));
			free(dir);
			continue;
		}
		w->wds = xrealloc(w->wds, (w->dirs.n + 1) * sizeof(*w->wds));
		w->wds[w->dirs.n] = wd;
		sl_push_owned(&w->dirs, dir);
	}
	return 0;
}

static const char *wd_dir(const struct watch *w, int wd)
{
	for (size_t i = 0; i < w->dirs.n; i++)
		if (w->wds[i] == wd)
			return w->dirs.v[i];
	return NULL;
}

/* Drains the events; true when one named an input (w->changed says which). */
bool watch_read(struct watch *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hit;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			const char *dir = wd_dir(w, ev->wd);
			if (!dir || !ev->len)
				continue;
			char *path = path_join(dir, ev->name);
			if (sl_has_sorted(&w->files, path)) {
				if (!hit) {
					free(w->changed);
					w->changed = xstrdup(path);
				}
				hit = true;
			}
			free(path);
		}
	}
}

void watch_stop(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	sl_release(&w->files);
	sl_release(&w->dirs);
	free(w->wds);
	free(w->changed);
	w->wds = NULL;
	w->changed = NULL;
}
