/* mounts.c — what init.mounts may name and what each name mounts (see
 * manifest.h).  The table sits with the manifest, the layer below init, so
 * that the reader can check names without depending on a later stage. */
#include "manifest/manifest.h"

const struct mf_mount manifest_mounts[] = {
	{ "proc", "proc", "/proc", "nosuid,nodev,noexec" },
	{ "sysfs", "sysfs", "/sys", "nosuid,nodev,noexec" },
	{ "devtmpfs", "devtmpfs", "/dev", "nosuid,mode=0755" },
	{ "devpts", "devpts", "/dev/pts", "nosuid,noexec,gid=5,mode=0620,ptmxmode=0666" },
	{ "mqueue", "mqueue", "/dev/mqueue", "nosuid,nodev,noexec" },
	{ "hugetlbfs", "hugetlbfs", "/dev/hugepages", NULL },
	{ "tmpfs", "tmpfs", "/tmp", "nosuid,nodev,mode=1777" },
	{ "run", "tmpfs", "/run", "nosuid,nodev,mode=0755" },
	{ "shm", "tmpfs", "/dev/shm", "nosuid,nodev,mode=1777" },
	{ "securityfs", "securityfs", "/sys/kernel/security", NULL },
	{ "debugfs", "debugfs", "/sys/kernel/debug", NULL },
	{ "tracefs", "tracefs", "/sys/kernel/tracing", NULL },
	{ "configfs", "configfs", "/sys/kernel/config", NULL },
	{ "cgroup2", "cgroup2", "/sys/fs/cgroup", "nsdelegate" },
	{ "bpf", "bpf", "/sys/fs/bpf", "mode=0700" },
	{ "pstore", "pstore", "/sys/fs/pstore", NULL },
	{ "fusectl", "fusectl", "/sys/fs/fuse/connections", NULL },
	{ "efivarfs", "efivarfs", "/sys/firmware/efi/efivars", NULL },
	{ "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc", NULL },
};
#define NMOUNTS (sizeof(manifest_mounts) / sizeof(manifest_mounts[0]))
const size_t manifest_nmounts = NMOUNTS;

/* Built once from the table, on first use (the reader runs on one thread). */
const char *const *manifest_mount_names(void)
{
	static const char *names[NMOUNTS + 1];
	if (!names[0])
		for (size_t i = 0; i < NMOUNTS; i++)
			names[i] = manifest_mounts[i].name;
	return names;
}
