/* qmp.c — QEMU's own word on how a guest ended: the QMP monitor on a
 * socketpair.
 *
 * QEMU gets one end as `-chardev socket,id=rdcqmp,fd=N -mon
 * chardev=rdcqmp,mode=control` (a connected socket, so there is no path to
 * race for and nothing to clean up); rdc keeps the other.  QMP greets, rdc
 * answers qmp_capabilities, and from then on QEMU sends its events, one JSON
 * object a line.  Only two matter here and both are flat:
 *     {"timestamp": {...}, "event": "WATCHDOG", "data": {"action": "poweroff"}}
 *     {"timestamp": {...}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}
 * so a scan for a key's string value is enough; a full JSON parser would buy
 * nothing. */
#include "run/runner.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "lib/util.h"

int qmp_open(struct qmp *q)
{
	int sv[2];
	memset(q, 0, sizeof(*q));
	q->fd = q->child_fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	q->fd = sv[0];
	q->child_fd = sv[1]; /* the child clears its CLOEXEC before exec */
	fcntl(q->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* The string value of "key" in a flat JSON object line, or NULL. */
static char *json_str(const char *line, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = strchr(line, '"'); p; p = strchr(p + 1, '"')) {
		if (strncmp(p + 1, key, k) || p[k + 1] != '"')
			continue;
		const char *v = p + k + 2;
		v += strspn(v, " \t");
		if (*v++ != ':')
			continue;
		v += strspn(v, " \t");
		if (*v++ != '"')
			return NULL;
		struct strbuf sb = STRBUF_INIT;
		for (; *v && *v != '"'; v++) {
			if (*v == '\\' && v[1])
				v++;
			sb_addch(&sb, *v);
		}
		return sb_detach(&sb);
	}
	return NULL;
}

static void qmp_line(struct qmp *q, const char *line)
{
	if (!q->negotiated && strstr(line, "\"QMP\"")) { /* the greeting */
		static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";
		q->negotiated = write_all(q->fd, caps, sizeof(caps) - 1) == 0;
		return;
	}
	char *event = json_str(line, "event");
	if (!event)
		return;
	if (!strcmp(event, "WATCHDOG") && !q->watchdog) {
		q->watchdog = true;
		q->watchdog_action = json_str(line, "action");
	} else if (!strcmp(event, "SHUTDOWN") && !q->shutdown) {
		q->shutdown = json_str(line, "reason");
	}
	free(event);
}

/* Reads what QEMU has sent; false at EOF or on an error (QEMU is gone). */
bool qmp_read(struct qmp *q)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(q->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (q->line.len < 65536) /* events are short; a reply can be long and does not matter */
					sb_addch(&q->line, buf[i]);
				continue;
			}
			qmp_line(q, sb_str(&q->line));
			sb_reset(&q->line);
		}
	}
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	if (q->child_fd >= 0)
		close(q->child_fd);
	q->fd = q->child_fd = -1;
	sb_release(&q->line);
	free(q->watchdog_action);
	free(q->shutdown);
	q->watchdog_action = q->shutdown = NULL;
}
