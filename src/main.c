/* main.c: argv -> subcommand. The only file that calls exit(). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: moecap <command> [options]\n"
               "       moecap help <command>\n"
               "       moecap --version\n\n"
               "moecap measures Mixture-of-Experts serving: Cost, Accuracy, Performance.\n\n"
               "commands:\n");
    for (const mc_cmd *c = mc_cli_commands; c->name; c++)
        fprintf(f, "  %-14s %s\n", c->name, c->summary);
    fprintf(f, "\nEvery command that prints results accepts --json.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    const char *a = argv[1];
    if (strcmp(a, "--version") == 0 || strcmp(a, "version") == 0) {
        printf("moecap %s\n", MC_VERSION);
        exit(0);
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
        (strcmp(a, "help") == 0 && argc == 2)) {
        usage(stdout);
        exit(0);
    }
    if (strcmp(a, "help") == 0) {
        const mc_cmd *c = mc_cli_find(argv[2]);
        if (!c) {
            fprintf(stderr, "moecap: unknown command '%s'\n", argv[2]);
            exit(2);
        }
        c->usage(stdout);
        exit(0);
    }
    const mc_cmd *c = mc_cli_find(a);
    if (!c) {
        fprintf(stderr, "moecap: unknown command '%s' (see 'moecap --help')\n", a);
        exit(2);
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            c->usage(stdout);
            exit(0);
        }
    exit(c->run(argc - 1, argv + 1));
}
