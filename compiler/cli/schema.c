/* rdc schema [--markdown|--man] — not listed in rdc --help: the JSON Schema of a
 * manifest (`make schema` writes it to schema/manifest.schema.json), or with
 * --markdown the README's key reference, or with --man rdc-manifest(5), all
 * from the manifest's key table. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "manifest/manifest.h"

const char usage_schema[] = "usage: rdc schema [--markdown|--man]\n";

int cmd_schema(int argc, char **argv)
{
	bool markdown = argc == 2 && !strcmp(argv[1], "--markdown");
	bool man = argc == 2 && !strcmp(argv[1], "--man");
	if (argc > 2 || (argc == 2 && !markdown && !man)) {
		fputs(usage_schema, stderr);
		return 2;
	}
	struct strbuf out = STRBUF_INIT;
	if (markdown)
		manifest_reference(&out);
	else if (man)
		manifest_man(&out);
	else
		manifest_schema(&out);
	fputs(out.buf, stdout);
	sb_release(&out);
	return 0;
}
