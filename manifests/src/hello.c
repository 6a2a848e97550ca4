/* hello.c — the program manifests/riscv64-hello.yaml puts in its image:
 * dynamically linked against glibc, so the image needs the riscv64 ld.so
 * and libc.so.6 from the sysroot. */
#include <stdio.h>
#include <sys/utsname.h>

int main(int argc, char **argv)
{
	struct utsname u;
	if (uname(&u) != 0)
		return 1;
	printf("hello from %s on %s\n", argc > 1 ? argv[1] : "riscv64", u.machine);
	return 0;
}
