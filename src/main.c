/* main.c: argv -> subcommand. The only file that calls exit(). */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* A step of `moecap run` (a child started with MOECAP_PARENT_PID set, src/cli/run_proc.c) ends
 * with its parent: SIGTERM when the parent dies, even by SIGKILL, so a killed run leaves no
 * server behind; a parent already gone before the request took effect means exit now. */
static void die_with_parent(void)
{
    const char *s = getenv("MOECAP_PARENT_PID");
    int64_t ppid = 0;
    if (!s || mc_parse_i64(s, 1, INT32_MAX, &ppid) != MC_OK)
        return;
    unsetenv("MOECAP_PARENT_PID"); /* not inherited further: our own children are ours */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if ((int64_t)getppid() != ppid)
        exit(1);
}

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
    die_with_parent();
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
