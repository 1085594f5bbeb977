/* cmd_predict.c: `moecap predict`. NOT IMPLEMENTED YET: placeholder so the command table links;
 * the owning work item replaces this file. */
#include "cli.h"

void usage_predict(FILE *f) { fprintf(f, "usage: moecap predict ... (not implemented yet)\n"); }

int cmd_predict(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moecap predict: not implemented yet\n");
    return 1;
}
