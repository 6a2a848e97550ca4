/* xxh3-64.c — prints the XXH3-64 of stdin as 16 hex digits: lets a test
 * forge a cache index line whose checksum is right (libxxhash, not rdc). */
#include <stdio.h>
#include <xxhash.h>

int main(void)
{
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), stdin);
	printf("%016llx\n", (unsigned long long)XXH3_64bits(buf, n));
	return 0;
}
