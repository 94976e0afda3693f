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
 *   4. once the container has exited, execs the "exit command" (nook itself,
 *      which records the status and applies --rm/--restart) with the raw
 *      wait status appended, keeping the lock descriptor open across exec.
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
 * Descriptors 1, 2, 4, 5 and 6 are the child's: the supervisor closes its copies after clone().
 *
 * Usage: nook-supervisor PLAN CLONE_FLAGS LOG MAX_SIZE MAX_FILES -- EXIT_COMMAND...
 * Report lines to nook: "pid N", then "ok" or "fail STEP OP ERRNO".
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor-log.h"

int nook_exec_plan(void *plan);
void *nook_child_stack_top(void);
int nook_read_status(int fd, int32_t *out4, int *passed_fd);

enum { FD_STATUS = 3, FD_STATUS_CHILD = 4, FD_SYNC_READ = 5, FD_SYNC_WRITE = 6, FD_REPORT = 7,
       FD_OUT = 8, FD_ERR = 9, FD_LOCK = 10, FD_LIFELINE = 11 };

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

int main(int argc, char **argv)
{
    int sep = 6;
    if (argc < 8 || strcmp(argv[sep], "--") != 0) {
        fprintf(stderr, "usage: nook-supervisor PLAN CLONE_FLAGS LOG MAX_SIZE MAX_FILES -- EXIT_COMMAND...\n");
        return 2;
    }
    /* A session of its own: the user's terminal closing (SIGHUP) must not touch the container. */
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* EBADF when the container has no network helper. */
    fcntl(FD_LIFELINE, F_SETFD, FD_CLOEXEC);

    void *plan = read_file(argv[1]);
    if (!plan) {
        report("fail -1 0 %ld\n", errno ? errno : EINVAL, 0, 0);
        return 1;
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
        if (msg[0] == 1) {
            report("fail %ld %ld %ld\n", msg[1], msg[2], msg[3]);
            int st;
            while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
                ;
            return 1; /* nook reports the failure and records the container's state */
        }
    }
    close(FD_STATUS);
    report("ok\n", 0, 0, 0);
    close(FD_REPORT);

    struct nook_log log;
    long long max_size = strtoll(argv[4], NULL, 10);
    int max_files = atoi(argv[5]);
    int logging = nook_log_open(&log, argv[3], max_size, max_files) == 0;

    struct pollfd fds[2];
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
    while (open_fds > 0) {
        if (poll(fds, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < nfds; i++) {
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
    }
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
    char **cmd = calloc((size_t)n + 2, sizeof *cmd);
    if (!cmd)
        return 1;
    for (int i = 0; i < n; i++)
        cmd[i] = argv[sep + 1 + i];
    cmd[n] = status_arg;
    /* The lock descriptor (10) stays open: the exit command holds the container's lock in turn. */
    execv(cmd[0], cmd);
    return 127;
}
