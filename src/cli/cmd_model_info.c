/* cmd_model_info.c: `moecap model-info`. NOT IMPLEMENTED YET: placeholder so the command table links;
 * the owning work item replaces this file. */
#include "cli.h"

void usage_model_info(FILE *f) { fprintf(f, "usage: moecap model-info ... (not implemented yet)\n"); }

int cmd_model_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moecap model-info: not implemented yet\n");
    return 1;
}
