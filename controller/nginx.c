/* nginx.c - the nginx master's life (see nginx.h). */
#include "controller/nginx.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WAIT_STEP_MS       10
#define ORPHAN_QUIT_MS     1000   /* orphans must close their listeners */
#define REAP_AFTER_KILL_MS 1000
#define PROBE_RESPONSE_MAX 4096   /* headers + the lines we read */
#define CMDLINE_MAX        4096
#define PATH_MAX_LEN       4096
#define MASTER_TITLE       "nginx: master process "

struct nginx {
    struct nginx_opts o;
    pid_t master;
    int child;              /* the master is our child */
    int pidfd;              /* readable when the master exits; -1 */
    pid_t orphans;          /* process group of a dead master's workers */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

struct nginx *nginx_new(const struct nginx_opts *o)
{
    struct nginx *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    n->o = *o;
    n->pidfd = -1;
    if (n->o.test_timeout_ms <= 0)
        n->o.test_timeout_ms = NGINX_TEST_TIMEOUT_MS;
    /* Orphaned nginx workers of a master we started come back to us, not
     * to init: we reap them, and quit them before a new master binds. */
    if (!n->o.external)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    return n;
}

static void unwatch(struct nginx *n)
{
    if (n->pidfd < 0)
        return;
    if (n->o.loop)
        evloop_io_del(n->o.loop, n->pidfd);
    close(n->pidfd);
    n->pidfd = -1;
}

void nginx_free(struct nginx *n)
{
    if (!n)
        return;
    unwatch(n);
    free(n);
}

static void on_pidfd(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct nginx *n = arg;

    if (n->o.exited)
        n->o.exited(n->o.arg);
    else
        nginx_reap(n);
}

/* A pidfd for the master: its exit wakes the loop even when it is not
 * our child (no SIGCHLD then). */
static void watch(struct nginx *n)
{
    unwatch(n);
    n->pidfd = (int)syscall(SYS_pidfd_open, n->master, 0);
    if (n->pidfd < 0) {
        if (!n->child)
            log_warn("nginx: cannot watch master %d (pidfd_open: %s); its "
                     "exit is noticed at the next reload", (int)n->master,
                     strerror(errno));
        return;
    }
    fcntl(n->pidfd, F_SETFD, FD_CLOEXEC);
    if (n->o.loop &&
        evloop_io_set(n->o.loop, n->pidfd, EV_READ, on_pidfd, n) < 0)
        log_warn("nginx: cannot watch master %d", (int)n->master);
}

/* In the child: default signal state; output to out_fd if given. */
static void child_setup(int out_fd)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        if (out_fd > STDERR_FILENO)
            close(out_fd);
    }
}

/* Starts `nginx -t` of candidate, its output to out_fd; its pid or -1.
 * vfork: the child borrows our memory until it execs, so a test per
 * change costs neither a copy of the page tables of a controller of
 * 100 MB nor, afterwards, a copy-on-write fault on every page we touch
 * (a quarter of our time at 10k Ingresses). The child only makes system
 * calls, then execs or _exits. */
static pid_t spawn_test(const struct nginx *n, const char *candidate,
                        int out_fd)
{
    pid_t pid = vfork();

    if (pid == 0) {
        child_setup(out_fd);
        /* nginx -t dies with us: it must never outlive a killed test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(n->o.binary, n->o.binary, "-t", "-q", "-e", "stderr", "-p",
              n->o.prefix, "-c", candidate, (char *)NULL);
        _exit(127);
    }
    return pid;
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
    pid = spawn_test(n, candidate, pfd[1]);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return -2;
    }
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

/* ppid, process group and comm of pid from /proc; -1 if gone. */
static int proc_stat(pid_t pid, int *ppid, int *pgrp, char *comm,
                     size_t commlen)
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
    /* pid (comm) state ppid pgrp ... ; comm may contain spaces */
    char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
    if (!lp || !rp || rp < lp ||
        sscanf(rp + 1, " %c %d %d", &state, ppid, pgrp) != 3)
        return -1;
    if (state == 'Z')
        return -1;      /* exited, only waiting to be reaped */
    snprintf(comm, commlen, "%.*s", (int)(rp - lp - 1), lp + 1);
    return 0;
}

/* The command line of pid with NULs as spaces; 0 or -1. */
static int proc_cmdline(pid_t pid, char *out, size_t outlen)
{
    char path[64];
    FILE *f;
    size_t k;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    k = fread(out, 1, outlen - 1, f);
    fclose(f);
    while (k > 0 && out[k - 1] == '\0')
        k--;
    for (size_t i = 0; i < k; i++)
        if (out[i] == '\0')
            out[i] = ' ';
    out[k] = '\0';
    return k > 0 ? 0 : -1;
}

/* pid is an nginx master on our config: its title is "nginx: master
 * process BINARY ... -c CONF" (nginx writes its argv after the title). */
static int is_our_master(const struct nginx *n, pid_t pid)
{
    char cmd[CMDLINE_MAX], want[PATH_MAX_LEN + 8];
    size_t cl, wl;

    if (pid <= 1 || proc_cmdline(pid, cmd, sizeof(cmd)) < 0 ||
        strncmp(cmd, MASTER_TITLE, strlen(MASTER_TITLE)) != 0)
        return 0;
    snprintf(want, sizeof(want), " -c %s", n->o.conf);
    cl = strlen(cmd);
    wl = strlen(want);
    return cl >= wl && strcmp(cmd + cl - wl, want) == 0;
}

static pid_t read_pid_file(const struct nginx *n)
{
    char path[PATH_MAX_LEN], buf[32];
    FILE *f;
    long v;

    snprintf(path, sizeof(path), "%s/" NGINX_PID_FILE, n->o.prefix);
    if (!(f = fopen(path, "r")))
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    v = strtol(buf, NULL, 10);
    return v > 1 && v < (1L << 22) ? (pid_t)v : 0;
}

int nginx_adopt(struct nginx *n)
{
    pid_t pid;
    char comm[64];
    int ppid, pgrp;

    if (n->master > 0)
        return 1;
    pid = read_pid_file(n);
    if (!pid || !is_our_master(n, pid) ||
        proc_stat(pid, &ppid, &pgrp, comm, sizeof(comm)) < 0)
        return 0;
    n->master = pid;
    n->child = ppid == (int)getpid();
    watch(n);
    log_info("nginx: adopted the running master %d (%s)", (int)pid,
             n->child ? "our child" : "not our child");
    return 1;
}

/* The processes of a dead master's group (its workers, which keep their
 * listeners and serve on) get SIGQUIT: they close their listeners at once
 * and finish what they have. Waits until none accepts any more (at most
 * ORPHAN_QUIT_MS, then SIGKILL), so the next master can bind. */
static void quit_orphans(struct nginx *n)
{
    pid_t pgrp = n->orphans;
    uint64_t deadline = evloop_clock_ms() + ORPHAN_QUIT_MS;
    int quit_sent = 0;

    n->orphans = 0;
    if (pgrp <= 1)
        return;
    for (;;) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int accepting = 0;

        if (!d)
            return;
        while ((de = readdir(d))) {
            pid_t pid = (pid_t)atoi(de->d_name);
            char comm[64];
            int ppid, g;
            if (pid <= 0 || proc_stat(pid, &ppid, &g, comm, sizeof(comm)) < 0 ||
                g != (int)pgrp || strcmp(comm, "nginx") != 0)
                continue;
            if (!quit_sent) {
                log_warn("nginx: quitting worker %d of the dead master %d",
                         (int)pid, (int)pgrp);
                kill(pid, SIGQUIT);
            } else if (evloop_clock_ms() >= deadline) {
                log_warn("nginx: killing worker %d of the dead master %d",
                         (int)pid, (int)pgrp);
                kill(pid, SIGKILL);
            }
            accepting += nginx_worker_accepting(pid);
        }
        closedir(d);
        quit_sent = 1;
        if (!accepting || evloop_clock_ms() >= deadline + WAIT_STEP_MS)
            return;
        sleep_ms(1);
    }
}

int nginx_start(struct nginx *n)
{
    pid_t pid;

    if (nginx_adopt(n))
        return 0;
    if (n->o.external)
        return 0;       /* the nginx container starts it on this config */
    quit_orphans(n);
    pid = fork();
    if (pid < 0) {
        log_error("nginx: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup(-1);
        /* Its own session: no signal meant for our group, no terminal
         * hang-up, no parent-death signal reaches it. */
        setsid();
        execl(n->o.binary, n->o.binary, "-e", "stderr", "-p", n->o.prefix,
              "-c", n->o.conf, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", n->o.binary, strerror(errno));
        _exit(127);
    }
    n->master = pid;
    n->child = 1;
    watch(n);
    log_info("nginx: master started (pid %d)", (int)pid);
    return 0;
}

int nginx_reload(struct nginx *n)
{
    if (!nginx_running(n))
        return -1;
    return kill(n->master, SIGHUP);
}

int nginx_running(struct nginx *n)
{
    return n->master > 0 || nginx_adopt(n);
}

pid_t nginx_pid(const struct nginx *n)
{
    return n->master;
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
        int ppid, pgrp;
        char comm[64];
        if (pid > 0 && proc_stat(pid, &ppid, &pgrp, comm, sizeof(comm)) == 0 &&
            ppid == (int)n->master)
            pids[k++] = pid;
    }
    closedir(d);
    return k;
}

int nginx_worker_accepting(pid_t pid)
{
    char buf[256];

    /* A zombie has an empty cmdline; nginx retitles a worker before it
     * closes its listening sockets on a graceful stop. */
    return proc_cmdline(pid, buf, sizeof(buf)) == 0 &&
           strstr(buf, "shutting down") == NULL;
}

/* The master has exited: for a child, reaped; for an adopted one, its
 * pidfd is readable (or, with no pidfd, it is gone). */
static int adopted_master_gone(const struct nginx *n)
{
    if (n->pidfd >= 0) {
        struct pollfd p = {.fd = n->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) == 1;
    }
    return kill(n->master, 0) < 0 && errno == ESRCH;
}

static void master_gone(struct nginx *n)
{
    unwatch(n);
    /* Its workers keep the listeners and serve on until the next master
     * is about to start (nginx_start). */
    if (!n->o.external)
        n->orphans = n->master;
    n->master = 0;
    n->child = 0;
}

int nginx_reap(struct nginx *n)
{
    int status, died = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != n->master || n->master <= 0)
            continue;
        if (WIFSIGNALED(status))
            log_error("nginx: master %d killed by signal %d", (int)pid,
                      WTERMSIG(status));
        else
            log_error("nginx: master %d exited with status %d", (int)pid,
                      WEXITSTATUS(status));
        died = 1;
    }
    if (!died && n->master > 0 && !n->child && adopted_master_gone(n)) {
        log_error("nginx: master %d (adopted) exited", (int)n->master);
        died = 1;
    }
    if (died)
        master_gone(n);
    return died;
}

/* Waits until the master has exited or deadline; 1 if it exited. */
static int wait_master(struct nginx *n, uint64_t deadline)
{
    int status;

    for (;;) {
        if (n->child) {
            pid_t r = waitpid(n->master, &status, WNOHANG);
            if (r == n->master || (r < 0 && errno == ECHILD))
                return 1;
        } else if (adopted_master_gone(n)) {
            return 1;
        }
        if (evloop_clock_ms() >= deadline)
            return 0;
        sleep_ms(WAIT_STEP_MS);
    }
}

/* Reaps every child that exits within ms (the workers of a killed master
 * come back to us as their subreaper). */
static void reap_children(int ms)
{
    uint64_t deadline = evloop_clock_ms() + (uint64_t)ms;

    while (evloop_clock_ms() < deadline) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0 && errno == ECHILD)
            return;
        if (r == 0)
            sleep_ms(WAIT_STEP_MS);
    }
}

void nginx_shutdown(struct nginx *n, uint64_t quit_at_ms, uint64_t kill_at_ms)
{
    uint64_t now = evloop_clock_ms();

    if (n->o.external || !nginx_running(n))
        return;
    if (quit_at_ms > now) {
        log_info("nginx: draining: master %d keeps accepting for %llu ms",
                 (int)n->master, (unsigned long long)(quit_at_ms - now));
        if (wait_master(n, quit_at_ms)) {
            log_warn("nginx: master %d exited during the drain",
                     (int)n->master);
            goto done;
        }
    }
    log_info("nginx: graceful stop (SIGQUIT) of master %d", (int)n->master);
    kill(n->master, SIGQUIT);
    if (!wait_master(n, kill_at_ms)) {
        log_warn("nginx: master %d did not stop in time, killing it",
                 (int)n->master);
        /* The master leads its own process group: workers go too. */
        kill(-n->master, SIGKILL);
        kill(n->master, SIGKILL);
        wait_master(n, evloop_clock_ms() + REAP_AFTER_KILL_MS);
    }
done:
    unwatch(n);
    n->master = 0;
    n->child = 0;
    reap_children(REAP_AFTER_KILL_MS);
}


/* GET path on the status port: 0 with the first line of the body in
 * out, or -1. */
int nginx_get(int port, const char *path, size_t max, int timeout_ms,
              struct buf *out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    char req[256], chunk[16384];
    int reqlen = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.0\r\n"
                          "Host: portico-controller\r\n\r\n", path);
    struct buf resp;
    uint64_t deadline = evloop_clock_ms() + (uint64_t)timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = -1;

    if (fd < 0)
        return -1;
    buf_init(&resp);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        errno != EINPROGRESS)
        goto out;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1 || (p.revents & POLLERR))
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
        ssize_t k = recv(fd, chunk, sizeof(chunk), 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            goto out;
        if (k == 0)
            break;
        if (resp.len + (size_t)k > max)
            goto out;
        buf_append(&resp, chunk, (size_t)k);
    }
    if (buf_failed(&resp) || resp.len == 0 ||
        (strncmp(resp.data, "HTTP/1.1 200", 12) != 0 &&
         strncmp(resp.data, "HTTP/1.0 200", 12) != 0))
        goto out;
    char *body = strstr(resp.data, "\r\n\r\n");
    if (!body)
        goto out;
    body += 4;
    buf_append(out, body, resp.len - (size_t)(body - resp.data));
    rc = buf_failed(out) ? -1 : 0;
out:
    buf_free(&resp);
    close(fd);
    return rc;
}

int nginx_worker_user(uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(NGINX_WORKER_USER);

    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static int probe_first_line(int port, const char *path, char *out,
                            size_t outlen)
{
    struct buf body;
    int rc = -1;

    buf_init(&body);
    if (nginx_get(port, path, PROBE_RESPONSE_MAX, NGINX_PROBE_TIMEOUT_MS,
                  &body) == 0) {
        size_t blen = strcspn(body.data ? body.data : "", "\r\n");
        if (blen + 1 <= outlen) {
            memcpy(out, body.data ? body.data : "", blen);
            out[blen] = '\0';
            rc = 0;
        }
    }
    buf_free(&body);
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

int nginx_probe_certificates_version(int port, char *out, size_t outlen)
{
    return probe_first_line(port, "/certificates-version", out, outlen);
}
