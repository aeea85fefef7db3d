/* nginx.c - the nginx master process under the controller (see nginx.h). */
#include "controller/nginx.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define REAP_WAIT_STEP_MS  10
#define PROBE_RESPONSE_MAX 4096   /* headers + the lines we read */

struct nginx {
    struct nginx_opts o;
    pid_t master;
};

struct nginx *nginx_new(const struct nginx_opts *o)
{
    struct nginx *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    n->o = *o;
    if (n->o.test_timeout_ms <= 0)
        n->o.test_timeout_ms = NGINX_TEST_TIMEOUT_MS;
    /* Orphaned nginx workers must come back to us, not to init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return n;
}

void nginx_free(struct nginx *n)
{
    free(n);
}

/* In the child: default signal state, die with the controller. */
static void child_setup(int out_fd)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        if (out_fd > STDERR_FILENO)
            close(out_fd);
    }
}

int nginx_test(const struct nginx *n, const char *candidate, char *out,
               size_t outlen)
{
    int pfd[2], status = 0;
    size_t got = 0;
    pid_t pid;
    uint64_t deadline = evloop_clock_ms() + (uint64_t)n->o.test_timeout_ms;

    out[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -2;
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -2;
    }
    if (pid == 0) {
        child_setup(pfd[1]);
        execl(n->o.binary, n->o.binary, "-t", "-q", "-e", "stderr", "-p",
              n->o.prefix, "-c", candidate, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int64_t left = (int64_t)deadline - (int64_t)evloop_clock_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(pfd[0]);
            snprintf(out, outlen, "nginx -t timed out after %d ms",
                     n->o.test_timeout_ms);
            return -2;
        }
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char tmp[1024];
        ssize_t k = read(pfd[0], tmp, sizeof(tmp));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (got + 1 < outlen) {
            size_t c = (size_t)k < outlen - 1 - got ? (size_t)k
                                                     : outlen - 1 - got;
            memcpy(out + got, tmp, c);
            got += c;
            out[got] = '\0';
        }
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return -2;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int nginx_start(struct nginx *n)
{
    pid_t pid;

    if (n->master > 0)
        return 0;
    pid = fork();
    if (pid < 0) {
        log_error("nginx: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup(-1);
        execl(n->o.binary, n->o.binary, "-e", "stderr", "-p", n->o.prefix,
              "-c", n->o.conf, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", n->o.binary, strerror(errno));
        _exit(127);
    }
    n->master = pid;
    log_info("nginx: master started (pid %d)", (int)pid);
    return 0;
}

int nginx_reload(struct nginx *n)
{
    if (n->master <= 0)
        return -1;
    return kill(n->master, SIGHUP);
}

int nginx_running(const struct nginx *n)
{
    return n->master > 0;
}

pid_t nginx_pid(const struct nginx *n)
{
    return n->master;
}

/* ppid and comm of pid from /proc; -1 if gone. */
static int proc_stat(pid_t pid, int *ppid, char *comm, size_t commlen)
{
    char path[64], buf[512], state;
    FILE *f;
    size_t k;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    k = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[k] = '\0';
    /* pid (comm) state ppid ... ; comm may contain spaces */
    char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
    if (!lp || !rp || rp < lp || sscanf(rp + 1, " %c %d", &state, ppid) != 2)
        return -1;
    snprintf(comm, commlen, "%.*s", (int)(rp - lp - 1), lp + 1);
    return 0;
}

size_t nginx_workers(const struct nginx *n, pid_t *pids, size_t max)
{
    DIR *d;
    struct dirent *de;
    size_t k = 0;

    if (n->master <= 0 || !(d = opendir("/proc")))
        return 0;
    while ((de = readdir(d)) && k < max) {
        pid_t pid = (pid_t)atoi(de->d_name);
        int ppid;
        char comm[64];
        if (pid > 0 && proc_stat(pid, &ppid, comm, sizeof(comm)) == 0 &&
            ppid == (int)n->master)
            pids[k++] = pid;
    }
    closedir(d);
    return k;
}

int nginx_worker_accepting(pid_t pid)
{
    char path[64], buf[256];
    FILE *f;
    size_t k;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    k = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[k] = '\0';
    /* A zombie has an empty cmdline; nginx retitles a worker before it
     * closes its listening sockets on a graceful stop. */
    return k > 0 && strstr(buf, "shutting down") == NULL;
}

/* Our children other than the master: orphaned workers after a crash. */
static void stop_orphans(pid_t master)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t self = getpid();

    if (!d)
        return;
    while ((de = readdir(d))) {
        pid_t pid = (pid_t)atoi(de->d_name);
        char comm[64];
        int ppid;
        if (pid <= 0 || pid == master ||
            proc_stat(pid, &ppid, comm, sizeof(comm)) < 0)
            continue;
        if (ppid == (int)self && strcmp(comm, "nginx") == 0) {
            log_warn("nginx: stopping orphaned worker %d", (int)pid);
            kill(pid, SIGKILL);
        }
    }
    closedir(d);
}

int nginx_reap(struct nginx *n)
{
    int status, died = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != n->master)
            continue;
        if (WIFSIGNALED(status))
            log_error("nginx: master %d killed by signal %d", (int)pid,
                      WTERMSIG(status));
        else
            log_error("nginx: master %d exited with status %d", (int)pid,
                      WEXITSTATUS(status));
        n->master = 0;
        died = 1;
        stop_orphans(pid);
    }
    return died;
}

void nginx_stop(struct nginx *n, int timeout_ms)
{
    uint64_t deadline = evloop_clock_ms() + (uint64_t)timeout_ms;
    int status;

    if (n->master <= 0)
        return;
    kill(n->master, SIGQUIT);
    while (evloop_clock_ms() < deadline) {
        pid_t r = waitpid(n->master, &status, WNOHANG);
        if (r == n->master || (r < 0 && errno == ECHILD)) {
            n->master = 0;
            return;
        }
        struct timespec ts = {0, REAP_WAIT_STEP_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    log_warn("nginx: master did not stop in %d ms, killing it", timeout_ms);
    kill(n->master, SIGKILL);
    waitpid(n->master, &status, 0);
    n->master = 0;
    stop_orphans(0);
}

/* GET path on the status port: 0 with the first line of the body in
 * out, or -1. */
static int probe_first_line(int port, const char *path, char *out,
                            size_t outlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    char req[256];
    int reqlen = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.0\r\n"
                          "Host: portico-controller\r\n\r\n", path);
    char resp[PROBE_RESPONSE_MAX];
    size_t got = 0;
    uint64_t deadline = evloop_clock_ms() + NGINX_PROBE_TIMEOUT_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = -1;

    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        errno != EINPROGRESS)
        goto out;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, NGINX_PROBE_TIMEOUT_MS) != 1 || (p.revents & POLLERR))
        goto out;
    if (reqlen < 0 || (size_t)reqlen >= sizeof(req) ||
        send(fd, req, (size_t)reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen)
        goto out;
    for (;;) {
        int64_t left = (int64_t)deadline - (int64_t)evloop_clock_ms();
        if (left <= 0)
            goto out;
        p.events = POLLIN;
        if (poll(&p, 1, (int)left) != 1)
            goto out;
        ssize_t k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == sizeof(resp) - 1)
            break;
    }
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0 &&
        strncmp(resp, "HTTP/1.0 200", 12) != 0)
        goto out;
    char *body = strstr(resp, "\r\n\r\n");
    if (!body)
        goto out;
    body += 4;
    size_t blen = strcspn(body, "\r\n");
    if (blen + 1 > outlen)
        goto out;
    memcpy(out, body, blen);
    out[blen] = '\0';
    rc = 0;
out:
    close(fd);
    return rc;
}

int nginx_probe_version(int port, char *out, size_t outlen)
{
    return probe_first_line(port, "/config-version", out, outlen);
}

int nginx_probe_routes_version(int port, char *out, size_t outlen)
{
    return probe_first_line(port, "/routes-version", out, outlen);
}
