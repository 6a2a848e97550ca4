/* tempfile.c — the registry of temporary files (see tempfile.h).
 *
 * The signal handler may run at any moment, on any thread, so the registry
 * is a list that is only ever prepended to and whose nodes are never freed:
 * a node is reused (under a mutex) once its owner forgot it, and the handler
 * reads only `active`, `owner` and the path, each written before `active`
 * is set.  `owner` keeps a forked child from removing its parent's files. */
#include "lib/tempfile.h"
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/util.h"

struct tempfile {
	struct tempfile *next;
	volatile sig_atomic_t active;
	int is_dir;
	pid_t owner;
	size_t cap;
	char path[];
};

static struct tempfile *volatile head;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void remove_all(int in_signal)
{
	pid_t me = getpid();
	for (struct tempfile *t = head; t; t = t->next) {
		if (!__atomic_load_n(&t->active, __ATOMIC_SEQ_CST) || t->owner != me)
			continue;
		if (!t->is_dir)
			unlink(t->path);
		else if (!in_signal)
			remove_tree(t->path);
	}
}

static void on_exit_remove(void) { remove_all(0); }

static void on_signal_remove(int sig)
{
	remove_all(1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_once(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	atexit(on_exit_remove);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa = { .sa_handler = on_signal_remove };
		sigemptyset(&sa.sa_mask);
		/* a signal the caller ignores (nohup) stays ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
	}
}

struct tempfile *tempfile_register(const char *path, int is_dir)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_once);
	size_t len = strlen(path) + 1;
	pthread_mutex_lock(&lock);
	struct tempfile *t = head;
	while (t && (__atomic_load_n(&t->active, __ATOMIC_SEQ_CST) || t->cap < len)) /* forget takes no lock */
		t = t->next;
	if (!t) {
		t = xcalloc(1, sizeof(*t) + len);
		t->cap = len;
		t->next = head;
		head = t;
	}
	memcpy(t->path, path, len);
	t->is_dir = is_dir;
	t->owner = getpid();
	__atomic_store_n(&t->active, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&lock);
	return t;
}

void tempfile_forget(struct tempfile *t)
{
	if (t)
		__atomic_store_n(&t->active, 0, __ATOMIC_SEQ_CST);
}
