/*
 * nook-supervisor: the small native process that watches a detached
 * container, as podman has conmon. One runs per detached container, so it
 * must stay tiny (a Node process would be ~40 MB resident).
 *
 * It holds no policy. nook (TypeScript) decides everything, writes the
 * container's plan to a file, and starts this program with its descriptors
 * laid out as below; the supervisor then
 *   1. clone()s the plan executor (ffi/executor.c) into the container's
 *      namespaces and reports the child's pid to nook, which writes the id
 *      maps and the cgroup and then lets the child go on (sync pipe);
 *   2. relays the child's start-up report (a failed step, or EOF once the
 *      command was exec'd) to nook, and keeps a pty master if the plan made one;
 *   3. copies the container's stdout and stderr (or the pty) into the log;
 *   4. with --timeout N (podman's run --timeout), SIGKILLs the container N
 *      seconds after its command started;
 *   5. once the container has exited, execs the "exit command" (nook itself,
 *      which records the status and applies --rm/--restart) with the raw
 *      wait status appended (and "timedout" after it when step 4 killed it),
 *      keeping the lock descriptor open across exec.
 *
 * Descriptors on entry:
 *   0 /dev/null   1 the container's stdout (write end)   2 its stderr (write end)
 *   3 status socket, supervisor's end   4 status socket, child's end
 *   5 sync pipe, read end   6 sync pipe, write end (nook keeps its own copy)
 *   7 report pipe to nook (write end)   8 stdout pipe (read end)   9 stderr pipe (read end)
 *   10 the container's lock (flock held for as long as the container lives)
 *   11 (optional) the network helper's lifeline (src/sandbox/network/lifeline.ts): pasta or
 *      slirp4netns lives while it is open. Made close-on-exec here, so that it closes when the
 *      container has exited and the exit command runs, or when the supervisor dies.
 *   12 (with --stdin or --stdin-once, then 0 is the read end of the same pipe, the container's
 *      stdin) the write end of the container's stdin pipe. See stdin_* below.
 * Descriptors 0 (with --stdin), 1, 2, 4, 5 and 6 are the child's: the supervisor closes its copies
 * after clone().
 *
 * With published ports (PORTS other than "-", see port-proxy.h) it binds them
 * before the container starts, and once it runs proxies connections into the
 * container's loopback-only network namespace (ffi/port-proxy.c).
 *
 * Usage: nook-supervisor PLAN CLONE_FLAGS LOG MAX_SIZE MAX_FILES PORTS [--stdin|--stdin-once] [--timeout SECONDS] -- EXIT_COMMAND...
 *        nook-supervisor --proxy PORTS   (a foreground container's port proxy: see proxy_main)
 *        nook-supervisor --tee pipes|pty LOG MAX_SIZE MAX_FILES   (a foreground container's log: see tee_main)
 * Report lines to nook: "port I HOSTPORT" per published port (or "portfail I
 * ERRNO"), "pid N", "forked N" when the plan forked the container's init
 * (--network container:NAME), then "ok" or "fail STEP OP ERRNO" (STEP -2:
 * the port proxy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "port-proxy.h"
#include "supervisor-log.h"

int nook_exec_plan(void *plan);
void *nook_child_stack_top(void);
int nook_read_status(int fd, int32_t *out4, int *passed_fd);

enum { FD_STATUS = 3, FD_STATUS_CHILD = 4, FD_SYNC_READ = 5, FD_SYNC_WRITE = 6, FD_REPORT = 7,
       FD_OUT = 8, FD_ERR = 9, FD_LOCK = 10, FD_LIFELINE = 11, FD_STDIN = 12 };

/*
 * The container's stdin (created with -i, no -t): the supervisor holds the
 * pipe's write end and listens on "attach.sock" in the container's state
 * directory (the plan's directory; mode 0600). One client at a time (`nook
 * attach`, `nook start -i`) streams its input there, copied into the pipe.
 * While nobody is attached the pipe stays open: the container blocks reading,
 * as docker's. A client's EOF closes the pipe with --stdin-once (docker's
 * StdinOnce: a container created with `create -i` or run in the foreground);
 * with --stdin (`run -d -i`) the pipe stays open for the next client.
 */
struct stdin_relay {
    int listen_fd, client, pipe_fd, once;
    char buf[16384];
    size_t len, off;
    char path[4200];
};

static void stdin_listen(struct stdin_relay *r, const char *plan_path)
{
    /* The socket's path may exceed sun_path: bind through a descriptor of its directory. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", plan_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(r->path, sizeof r->path, "%s/attach.sock", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (dfd < 0 || s < 0)
        goto fail;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach.sock", dfd);
    unlink(r->path);
    mode_t old = umask(0177);
    int b = bind(s, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (b < 0 || listen(s, 8) < 0)
        goto fail;
    close(dfd);
    r->listen_fd = s;
    return;
fail:
    if (dfd >= 0)
        close(dfd);
    if (s >= 0)
        close(s);
    r->listen_fd = -1;
}

static void stdin_stop_listening(struct stdin_relay *r)
{
    if (r->listen_fd >= 0) {
        close(r->listen_fd);
        unlink(r->path);
        r->listen_fd = -1;
    }
}

static void stdin_drop_client(struct stdin_relay *r)
{
    if (r->client >= 0)
        close(r->client);
    r->client = -1;
}

static void stdin_close_pipe(struct stdin_relay *r)
{
    if (r->pipe_fd >= 0)
        close(r->pipe_fd);
    r->pipe_fd = -1;
    r->len = r->off = 0;
    /* Nothing to write into any more: no more clients. */
    stdin_drop_client(r);
    stdin_stop_listening(r);
}

/* Fills three poll slots: the listening socket, the client (to read), the pipe (to write). */
static void stdin_pollfds(struct stdin_relay *r, struct pollfd *fds)
{
    int pending = r->off < r->len;
    fds[0] = (struct pollfd){ r->client < 0 ? r->listen_fd : -1, POLLIN, 0 };
    fds[1] = (struct pollfd){ !pending ? r->client : -1, POLLIN, 0 };
    fds[2] = (struct pollfd){ pending ? r->pipe_fd : -1, POLLOUT, 0 };
}

static void stdin_handle(struct stdin_relay *r, struct pollfd *fds)
{
    if (fds[0].fd >= 0 && fds[0].revents) {
        int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            r->client = c;
    }
    if (fds[1].fd >= 0 && fds[1].revents && r->client >= 0) {
        ssize_t n = read(r->client, r->buf, sizeof r->buf);
        if (n > 0) {
            r->len = (size_t)n;
            r->off = 0;
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            /* The client's EOF (or it went away). */
            stdin_drop_client(r);
            if (r->once)
                stdin_close_pipe(r);
        }
    }
    if (r->off < r->len && r->pipe_fd >= 0) {
        ssize_t w = write(r->pipe_fd, r->buf + r->off, r->len - r->off);
        if (w > 0) {
            r->off += (size_t)w;
            if (r->off == r->len)
                r->len = r->off = 0;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            stdin_close_pipe(r); /* EPIPE: the container closed its stdin */
        }
    }
}

static void report(const char *fmt, long a, long b, long c)
{
    char line[96];
    int n = snprintf(line, sizeof line, fmt, a, b, c);
    if (n > 0 && write(FD_REPORT, line, (size_t)n) < 0) {
        /* nook went away: the container runs on regardless */
    }
}

static void *read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        close(fd);
        return NULL;
    }
    /* 8-aligned: the plan is read as 64-bit words. */
    void *buf = aligned_alloc(8, ((size_t)st.st_size + 7) & ~(size_t)7);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, (char *)buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            free(buf);
            buf = NULL;
        } else {
            got += (size_t)r;
        }
    }
    close(fd);
    return buf;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void to_devnull(int fd)
{
    int n = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (n >= 0 && n != fd) {
        dup2(n, fd);
        close(n);
    }
}

/* Copies one chunk from fd into the log; returns 0 at EOF or error (EIO: the pty's last slave closed). */
static int pump(int fd, int stream, struct nook_log *log)
{
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return 0;
    nook_log_write(log, stream, buf, (size_t)n);
    return 1;
}

/*
 * --proxy PORTS: the port proxy alone, for a container nook runs in the
 * foreground. Binds PORTS and reports them on stdout ("port I HOSTPORT" or
 * "portfail I ERRNO"), reads the container's pid from stdin, joins its
 * namespaces ("ok" or "fail ERRNO"), then proxies until the container exits
 * (its pidfd) or nook goes away (stdin's EOF, even after a SIGKILL).
 */
static int proxy_main(const char *ports)
{
    signal(SIGPIPE, SIG_IGN);
    int bound[256], failed = 0;
    int n = nook_ports_bind(ports, bound, 256, &failed);
    if (n < 0) {
        printf("portfail %d %d\n", failed, errno);
        return 1;
    }
    for (int i = 0; i < n; i++)
        printf("port %d %d\n", i, bound[i]);
    fflush(stdout);
    char line[32];
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(0, line + got, 1);
        if (r <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = 0;
    int pid = atoi(line);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    int err = pidfd < 0 ? (pid > 0 ? errno : EINVAL) : -nook_ports_start(pid);
    if (err) {
        printf("fail %d\n", err);
        return 1;
    }
    printf("ok\n");
    fflush(stdout);
    enum { MAX_POLL = 4096 };
    static struct pollfd fds[MAX_POLL];
    for (;;) {
        fds[0] = (struct pollfd){ pidfd, POLLIN, 0 };
        fds[1] = (struct pollfd){ 0, POLLIN, 0 };
        int nproxy = nook_ports_pollfds(fds + 2, MAX_POLL - 2);
        if (poll(fds, (nfds_t)(2 + nproxy), nook_ports_timeout()) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents || fds[1].revents)
            break;
        nook_ports_handle(fds + 2, nproxy);
    }
    nook_ports_close();
    return 0;
}

/*
 * Writes all of buf to the user's terminal (or whatever nook's stdout or
 * stderr is). Node may have left that file O_NONBLOCK (the flag is the open
 * file's, shared with nook): EAGAIN waits for room rather than dropping
 * output. Returns 0, or -1 with errno (EPIPE: nobody reads it any more).
 */
static int write_out(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = { fd, POLLOUT, 0 };
                poll(&pf, 1, -1);
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * --tee pipes|pty LOG MAX_SIZE MAX_FILES: the log of a container that nook
 * runs in the foreground (src/sandbox/output-log.ts). Copies what the
 * container prints to the terminal as it comes, and into LOG as the
 * supervisor logs a detached container's output, until EOF.
 *
 * Descriptors: 0 /dev/null, 1 and 2 nook's own stdout and stderr; "pipes":
 * 3 the container's stdout pipe (read end), 4 its stderr pipe; "pty": 3 the
 * pty master (its output, logged as stdout; nook writes the input).
 *
 * It is in nook's process group: a typed Ctrl-C, or a hang-up, must not end
 * it before the container's last output is copied (nook passes the signal
 * on to the container, whose end brings the EOF). When the terminal's
 * reader is gone (EPIPE), the container's pipe is closed, so that it gets
 * EPIPE/SIGPIPE as it would writing to the terminal itself; other errors on
 * the terminal stop the copying there, not into the log.
 */
static int tee_main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    int pty = strcmp(argv[2], "pty") == 0;
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Run in the background (`nook run ... &`) with tostop set: written anyway, as the command itself
     * (in a session of its own) would have written to the terminal. */
    signal(SIGTTOU, SIG_IGN);
    struct nook_log log;
    int logging = nook_log_open(&log, argv[3], strtoll(argv[4], NULL, 10), atoi(argv[5])) == 0;
    struct pollfd fds[2] = { { 3, POLLIN, 0 }, { pty ? -1 : 4, POLLIN, 0 } };
    int out[2] = { 1, 2 };
    int open_fds = pty ? 1 : 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char buf[16384];
            ssize_t n;
            while ((n = read(fds[i].fd, buf, sizeof buf)) < 0 && errno == EINTR)
                ;
            if (n > 0) {
                if (out[i] >= 0 && write_out(out[i], buf, (size_t)n) < 0) {
                    int gone = errno == EPIPE;
                    out[i] = -1;
                    if (gone && !pty) {
                        close(fds[i].fd);
                        fds[i].fd = -1;
                        open_fds--;
                    }
                }
                if (logging)
                    nook_log_write(&log, i == 1 ? 2 : 1, buf, (size_t)n);
                continue;
            }
            /* EOF, or EIO: the pty's last slave closed */
            if (n < 0 && errno == EAGAIN)
                continue;
            if (fds[i].fd >= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    if (logging)
        nook_log_close(&log);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--proxy") == 0)
        return proxy_main(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "--tee") == 0)
        return tee_main(argc, argv);
    int sep = 7;
    struct stdin_relay in = { .listen_fd = -1, .client = -1, .pipe_fd = -1 };
    int with_stdin = 0;
    long timeout_s = 0;
    for (; sep < argc && strcmp(argv[sep], "--") != 0; sep++) {
        if (strcmp(argv[sep], "--stdin") == 0 || strcmp(argv[sep], "--stdin-once") == 0) {
            with_stdin = 1;
            in.once = strcmp(argv[sep], "--stdin-once") == 0;
        } else if (strcmp(argv[sep], "--timeout") == 0 && sep + 1 < argc) {
            timeout_s = strtol(argv[++sep], NULL, 10);
        } else {
            break;
        }
    }
    if (argc < sep + 2 || strcmp(argv[sep], "--") != 0) {
        fprintf(stderr, "usage: nook-supervisor PLAN CLONE_FLAGS LOG MAX_SIZE MAX_FILES PORTS [--stdin|--stdin-once] [--timeout SECONDS] -- EXIT_COMMAND...\n");
        return 2;
    }
    /* A session of its own: the user's terminal closing (SIGHUP) must not touch the container. */
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* EBADF when the container has no network helper. */
    fcntl(FD_LIFELINE, F_SETFD, FD_CLOEXEC);
    if (with_stdin) {
        /* The container must not hold its own stdin's write end (it would never see EOF). */
        fcntl(FD_STDIN, F_SETFD, FD_CLOEXEC);
        in.pipe_fd = FD_STDIN;
    }

    void *plan = read_file(argv[1]);
    if (!plan) {
        report("fail -1 0 %ld\n", errno ? errno : EINVAL, 0, 0);
        return 1;
    }
    /* The host's ports first: a port in use must stop the container before it starts. */
    if (strcmp(argv[6], "-") != 0) {
        int bound[256], failed = 0;
        int n = nook_ports_bind(argv[6], bound, 256, &failed);
        if (n < 0) {
            report("portfail %ld %ld\n", failed, errno, 0);
            return 1;
        }
        for (int i = 0; i < n; i++)
            report("port %ld %ld\n", i, bound[i], 0);
    }
    int flags = (int)strtol(argv[2], NULL, 0);
    int pid = clone(nook_exec_plan, nook_child_stack_top(), flags, plan);
    if (pid < 0) {
        report("fail -1 0 %ld\n", errno, 0, 0);
        return 1;
    }
    free(plan);
    /* The child's descriptors: without our copies, the pipes see EOF when the container is gone. */
    to_devnull(1);
    to_devnull(2);
    if (with_stdin) {
        to_devnull(0);
        /* Never block on a container that does not read: the log must go on. */
        fcntl(in.pipe_fd, F_SETFL, fcntl(in.pipe_fd, F_GETFL) | O_NONBLOCK);
        stdin_listen(&in, argv[1]);
    }
    close(FD_STATUS_CHILD);
    close(FD_SYNC_READ);
    close(FD_SYNC_WRITE);
    report("pid %ld\n", pid, 0, 0);

    /* The start-up report: a pty master (with -t), then a failed step or EOF (the command runs). */
    int pty = -1;
    for (;;) {
        int32_t msg[4];
        int passed = -1;
        int r = nook_read_status(FD_STATUS, msg, &passed);
        if (r <= 0)
            break;
        if (msg[0] == 2 && passed >= 0)
            pty = passed;
        if (msg[0] == 3 && msg[3] > 0) {
            /*
             * The executor joined another container's namespaces and forked the
             * container's init (our child too, CLONE_PARENT), then ended: from here
             * on the container is that child.
             */
            int st;
            while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
                ;
            pid = msg[3];
            report("forked %ld\n", pid, 0, 0);
        }
        if (msg[0] == 1) {
            stdin_stop_listening(&in);
            report("fail %ld %ld %ld\n", msg[1], msg[2], msg[3]);
            int st;
            while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
                ;
            return 1; /* nook reports the failure and records the container's state */
        }
    }
    close(FD_STATUS);
    int perr = nook_ports_start(pid);
    if (perr < 0) {
        kill(pid, SIGKILL);
        int st;
        while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
            ;
        stdin_stop_listening(&in);
        report("fail -2 0 %ld\n", -perr, 0, 0);
        return 1;
    }
    report("ok\n", 0, 0, 0);
    close(FD_REPORT);
    /* --timeout: counted from here, the command having started. */
    long long deadline = timeout_s > 0 ? monotonic_ms() + (long long)timeout_s * 1000 : -1;
    int timed_out = 0;

    struct nook_log log;
    long long max_size = strtoll(argv[4], NULL, 10);
    int max_files = atoi(argv[5]);
    /* An empty path: --log-driver none, the output is read and dropped. */
    int logging = argv[3][0] != '\0' && nook_log_open(&log, argv[3], max_size, max_files) == 0;

    /* The log's descriptors first, then the port proxy's (rebuilt on every round). */
    enum { MAX_POLL = 4096 };
    static struct pollfd fds[MAX_POLL];
    int nfds = 0;
    if (pty >= 0) {
        close(FD_OUT);
        close(FD_ERR);
        fds[nfds++] = (struct pollfd){ pty, POLLIN, 0 };
    } else {
        fds[nfds++] = (struct pollfd){ FD_OUT, POLLIN, 0 };
        fds[nfds++] = (struct pollfd){ FD_ERR, POLLIN, 0 };
    }
    int open_fds = nfds;
    /*
     * With published ports or a timeout, the container's end is watched too
     * (a pidfd): a command that closed its stdout and stderr still runs, and
     * its ports must stay served (and its timeout kill it) until it exits.
     */
    int proxying = nook_ports_active();
    int pidfd = proxying || deadline >= 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    int slot = nfds; /* where the pidfd goes in the poll set */
    int logs = nfds;
    if (pidfd >= 0)
        fds[nfds++] = (struct pollfd){ pidfd, POLLIN, 0 };
    /* The stdin relay's three slots (unused ones are -1). */
    int in_slot = nfds;
    nfds += 3;
    while (open_fds > 0 || pidfd >= 0) {
        stdin_pollfds(&in, fds + in_slot);
        int nproxy = proxying ? nook_ports_pollfds(fds + nfds, MAX_POLL - nfds) : 0;
        int wait_ms = proxying ? nook_ports_timeout() : -1;
        if (deadline >= 0 && pidfd >= 0 && !timed_out) {
            long long left = deadline - monotonic_ms();
            if (left < 0)
                left = 0;
            if (wait_ms < 0 || left < wait_ms)
                wait_ms = (int)left;
        }
        int ready = poll(fds, (nfds_t)(nfds + nproxy), wait_ms);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pidfd >= 0 && !fds[slot].revents && deadline >= 0 && !timed_out && monotonic_ms() >= deadline) {
            /* Still running at its deadline (its pidfd not readable): killed, as podman's --timeout. */
            if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0 || kill(pid, SIGKILL) == 0)
                timed_out = 1;
            continue;
        }
        if (pidfd >= 0 && fds[slot].revents) {
            /* The container has exited: stop serving its ports; the logs drain to their EOF. */
            proxying = 0;
            nook_ports_close();
            close(pidfd);
            pidfd = -1;
            fds[slot].fd = -1;
            continue;
        }
        for (int i = 0; i < logs; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            int stream = (pty >= 0 || i == 0) ? 1 : 2;
            if (!logging) {
                char sink[16384];
                if (read(fds[i].fd, sink, sizeof sink) > 0)
                    continue;
            } else if (pump(fds[i].fd, stream, &log)) {
                continue;
            }
            close(fds[i].fd);
            fds[i].fd = -1;
            open_fds--;
        }
        stdin_handle(&in, fds + in_slot);
        if (proxying)
            nook_ports_handle(fds + nfds, nproxy);
    }
    /* Its input ends with it: an attached client sees the connection close. */
    stdin_close_pipe(&in);
    /* The container is gone: its ports are free again before anyone hears of its exit. */
    nook_ports_close();
    if (logging)
        nook_log_close(&log);

    /* Every writer is gone, so the container's init has exited (or closed both streams): wait for it. */
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0) {
        if (errno != EINTR) {
            status = 0xff00; /* unknown: report exit code 255 */
            break;
        }
    }

    char status_arg[16];
    snprintf(status_arg, sizeof status_arg, "%d", status);
    int n = argc - (sep + 1);
    char **cmd = calloc((size_t)n + 3, sizeof *cmd);
    if (!cmd)
        return 1;
    for (int i = 0; i < n; i++)
        cmd[i] = argv[sep + 1 + i];
    cmd[n] = status_arg;
    /* Killed by its timeout (and not exited by itself first): nook records podman's -1. */
    if (timed_out && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        cmd[n + 1] = "timedout";
    /* The lock descriptor (10) stays open: the exit command holds the container's lock in turn. */
    execv(cmd[0], cmd);
    return 127;
}
