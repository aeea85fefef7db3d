/* supervisor.c - the pod's nginx container (see supervisor.h). */
#include "controller/supervisor.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

struct supervisor {
    const struct supervisor_opts *o;
    struct evloop *loop;
    struct nginx *nginx;
    struct ev_timer *start;
    int sigfd;
    int restart_delay_ms;
    uint64_t started_ms;
    uint64_t term_ms;       /* when SIGTERM came; 0 before */
};

static void on_start(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct supervisor *s = arg;

    if (access(s->o->nginx.conf, R_OK) < 0) {
        evloop_timer_start(t, SUPERVISOR_CONF_POLL_MS);
        return;
    }
    if (nginx_start(s->nginx) < 0) {
        evloop_timer_start(t, (uint64_t)s->restart_delay_ms);
        return;
    }
    s->started_ms = evloop_clock_ms();
}

/* The master died: start the next one at once the first time (its
 * orphaned workers serve until then), then back off. */
static void on_nginx_exited(void *arg)
{
    struct supervisor *s = arg;

    if (!nginx_reap(s->nginx) || s->term_ms)
        return;
    if (evloop_clock_ms() - s->started_ms > SUPERVISOR_STABLE_MS)
        s->restart_delay_ms = 0;
    log_info("supervisor: restarting nginx in %d ms", s->restart_delay_ms);
    evloop_timer_start(s->start, (uint64_t)s->restart_delay_ms);
    s->restart_delay_ms = s->restart_delay_ms ? s->restart_delay_ms * 2
                                              : SUPERVISOR_CONF_POLL_MS;
    if (s->restart_delay_ms > SUPERVISOR_RESTART_MAX_MS)
        s->restart_delay_ms = SUPERVISOR_RESTART_MAX_MS;
}

static void on_signal(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct supervisor *s = arg;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            on_nginx_exited(s);
            continue;
        }
        if (s->term_ms)
            continue;
        s->term_ms = evloop_clock_ms();
        log_info("supervisor: signal %u: draining nginx", si.ssi_signo);
        evloop_stop(loop);
    }
}

int supervisor_run(const struct supervisor_opts *o)
{
    struct supervisor s = {.o = o, .sigfd = -1};
    struct nginx_opts no = o->nginx;
    sigset_t mask;
    int rc = 1;

    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s.loop = evloop_new();
    no.loop = s.loop;
    no.exited = on_nginx_exited;
    no.arg = &s;
    no.external = 0;
    s.nginx = s.loop ? nginx_new(&no) : NULL;
    s.start = s.loop ? evloop_timer_new(s.loop, on_start, &s) : NULL;
    if (s.sigfd < 0 || !s.nginx || !s.start ||
        evloop_io_set(s.loop, s.sigfd, EV_READ, on_signal, &s) < 0) {
        log_error("supervisor: cannot set up: %s", strerror(errno));
        goto out;
    }
    log_info("supervisor: waiting for %s", o->nginx.conf);
    evloop_timer_start(s.start, 0);
    evloop_run(s.loop);
    nginx_shutdown(s.nginx, s.term_ms + (uint64_t)o->drain_ms,
                   s.term_ms + (uint64_t)o->kill_after_ms);
    log_info("supervisor: nginx stopped");
    rc = 0;
out:
    nginx_free(s.nginx);
    evloop_timer_free(s.start);
    if (s.sigfd >= 0)
        close(s.sigfd);
    if (s.loop)
        evloop_free(s.loop);
    return rc;
}
