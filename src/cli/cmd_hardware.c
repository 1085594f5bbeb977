/* cmd_hardware.c: `moecap hardware`. NOT IMPLEMENTED YET: placeholder so the command table links;
 * the owning work item replaces this file. */
#include "cli.h"

void usage_hardware(FILE *f) { fprintf(f, "usage: moecap hardware ... (not implemented yet)\n"); }

int cmd_hardware(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moecap hardware: not implemented yet\n");
    return 1;
}
