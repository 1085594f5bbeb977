/* cmd_metrics.c: `moecap metrics`. NOT IMPLEMENTED YET: placeholder so the command table links;
 * the owning work item replaces this file. */
#include "cli.h"

void usage_metrics(FILE *f) { fprintf(f, "usage: moecap metrics ... (not implemented yet)\n"); }

int cmd_metrics(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moecap metrics: not implemented yet\n");
    return 1;
}
