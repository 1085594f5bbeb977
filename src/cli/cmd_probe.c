/* cmd_probe.c: `moecap probe`. NOT IMPLEMENTED YET: placeholder so the command table links;
 * the owning work item replaces this file. */
#include "cli.h"

void usage_probe(FILE *f) { fprintf(f, "usage: moecap probe ... (not implemented yet)\n"); }

int cmd_probe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moecap probe: not implemented yet\n");
    return 1;
}
