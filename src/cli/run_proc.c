/* run_proc.c: the child processes of `moecap run`: every step is this same binary
 * (/proc/self/exe) run with an argv built here, its stdout to a file and its stderr to a log;
 * `moecap serve` children are started on a free loopback port, polled on /health, and stopped
 * with SIGTERM then SIGKILL, and always reaped. Knows nothing of what the steps mean. */
#include "run_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

volatile sig_atomic_t run_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    run_interrupted = 1;
}

void run_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define RUN_MAX_ARGS 96

static mc_err spawn(const char *const *argv, const char *out_path, const char *log_path,
                    pid_t *pid, mc_diag *d)
{
    char *args[RUN_MAX_ARGS + 2];
    size_t n = 0;
    args[n++] = (char *)"moecap";
    for (; argv[n - 1] && n <= RUN_MAX_ARGS; n++)
        args[n] = (char *)argv[n - 1];
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out_path)
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    /* the child ends with this process (src/main.c die_with_parent): a `moecap run` killed
     * with SIGKILL leaves no server or step running */
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    setenv("MOECAP_PARENT_PID", ppid, 1);
    int rc = posix_spawn(pid, "/proc/self/exe", &fa, NULL, args, environ);
    unsetenv("MOECAP_PARENT_PID");
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return mc_fail(d, MC_ERR_IO, "cannot start 'moecap %s': %s", argv[0], strerror(rc));
    return MC_OK;
}

/* Waits for pid; 1 = exited (*status set), 0 = still running after ms milliseconds. */
static int wait_for(pid_t pid, long ms, int *status)
{
    for (long t = 0;; t += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            *status = (r == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
            return 1;
        }
        if (t >= ms)
            return 0;
        sleep_ms(10);
    }
}

static void end_child(pid_t pid, double grace_s, int *status)
{
    kill(pid, SIGTERM);
    if (!wait_for(pid, (long)(grace_s * 1000), status)) {
        kill(pid, SIGKILL);
        wait_for(pid, 60000, status);
        *status = -1;
    }
}

mc_err run_child(const char *const *argv, const char *out_path, const char *log_path,
                 double timeout_s, int *status, mc_diag *d)
{
    pid_t pid;
    *status = -1;
    mc_err e = spawn(argv, out_path, log_path, &pid, d);
    if (e)
        return e;
    double waited = 0;
    while (!wait_for(pid, 100, status)) {
        waited += 0.1;
        if (run_interrupted || (timeout_s > 0 && waited >= timeout_s)) {
            end_child(pid, 10, status);
            *status = -1;
            break;
        }
    }
    return MC_OK;
}

/* A port that was free a moment ago: bind port 0 on loopback and read what the kernel chose. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p, (void)u;
    return sz * n;
}

static int health_ok(const char *url)
{
    char full[128];
    snprintf(full, sizeof full, "%s/health", url);
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    long code = 0;
    curl_easy_setopt(h, CURLOPT_URL, full);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return code == 200;
}

/* The last non-empty line of a log (for error messages). */
void run_last_line(const char *path, char *out, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    out[0] = 0;
    if (mc_read_file(path, 64u << 20, &buf, &len, NULL) != MC_OK)
        return;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = 0;
    char *nl = strrchr(buf, '\n');
    snprintf(out, cap, "%s", nl ? nl + 1 : buf);
    mc_free(buf);
}

/* One attempt: 1 = ready, 0 = the child exited (maybe the port was taken), -1 = timeout. */
static int try_start(const char *const *args, const char *log, double timeout_s, run_server *sv,
                     mc_diag *d)
{
    const char *argv[RUN_MAX_ARGS + 4];
    char port[16];
    size_t n = 0;
    argv[n++] = "serve";
    for (size_t i = 0; args[i] && n < RUN_MAX_ARGS; i++)
        argv[n++] = args[i];
    snprintf(port, sizeof port, "%d", sv->port);
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n] = NULL;
    if (spawn(argv, NULL, log, &sv->pid, d))
        return 0;
    snprintf(sv->url, sizeof sv->url, "http://127.0.0.1:%d", sv->port);
    int status;
    for (double t = 0; t < timeout_s && !run_interrupted; t += 0.1) {
        if (wait_for(sv->pid, 0, &status)) {
            sv->pid = 0;
            return 0;
        }
        if (health_ok(sv->url))
            return 1;
        sleep_ms(100);
    }
    return -1;
}

mc_err run_server_start(const char *const *args, const char *log_path, double timeout_s,
                        run_server *sv, mc_diag *d)
{
    memset(sv, 0, sizeof *sv);
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((sv->port = free_port()) < 0)
            return mc_fail(d, MC_ERR_IO, "no free loopback port: %s", strerror(errno));
        int r = try_start(args, log_path, timeout_s, sv, d);
        if (r == 1)
            return MC_OK;
        char line[400];
        run_last_line(log_path, line, sizeof line);
        if (r < 0) {
            run_server_stop(sv, 5);
            return mc_fail(d, MC_ERR_NET, "%s after %.0f s (log: %s)",
                           run_interrupted ? "interrupted" : "no /health answer", timeout_s,
                           line);
        }
        /* exited: retry once only when the port was taken in between */
        if (!strstr(line, "in use") || attempt == 1)
            return mc_fail(d, MC_ERR_IO, "exited: %s", line[0] ? line : "(empty log)");
    }
    return mc_fail(d, MC_ERR_INTERNAL, "serve: start");
}

void run_server_stop(run_server *sv, double grace_s)
{
    if (sv->pid <= 0)
        return;
    int status;
    end_child(sv->pid, grace_s, &status);
    sv->pid = 0;
}
