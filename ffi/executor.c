/*
 * nook's native plan executor.
 *
 * No JavaScript can run in a child of fork()/clone() (V8's heap is mapped
 * MADV_DONTFORK), so TypeScript decides everything and serialises a *plan*:
 * a list of syscalls with their arguments. TypeScript calls libc's clone()
 * with nook_exec_plan() as the child function; this file runs the plan step
 * by step and, when a step fails, sends {step, op, errno} over the status
 * socket (close-on-exec, so a successful execve() shows up as EOF) and exits.
 *
 * This file holds no policy: which mounts, which ids, which capabilities are
 * all decided in src/sandbox. Keep it that way.
 *
 * Plan layout (native endianness, 64-bit words):
 *   word 0: magic, word 1: number of ops, word 2: status fd,
 *   then per op: NOOK_OP_WORDS words: opcode followed by arguments.
 *   String arguments are byte offsets from the start of the plan to a
 *   NUL-terminated string (0 = NULL). String lists are offsets to a
 *   0-terminated array of such offsets; they are rewritten into pointers
 *   in place (the child owns its copy of the plan).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "in-root.h"

#define NOOK_PLAN_MAGIC 0x6e6f6f6b706c616eULL /* "nookplan" */
#define NOOK_OP_WORDS 8

/* Keep in sync with ffi/plan-format.ts (a unit test checks). */
enum nook_op {
    OP_WAIT_FD = 1,        /* fd: block until one byte (or EOF: parent gave up, exit quietly) */
    OP_CLOSE = 2,          /* fd */
    OP_MOUNT = 3,          /* source, target, fstype, flags, data */
    OP_REMOUNT_BIND = 4,   /* target, flags: MS_BIND|MS_REMOUNT keeping the locked flags */
    OP_UMOUNT = 5,         /* target, flags */
    /* 6-8 were path-based mkdir -p, touch and symlink: replaced by the in-root ops (37-42). */
    OP_PIVOT_ROOT = 9,     /* new root: pivot_root(".", ".") then detach the old root */
    OP_CHDIR = 10,         /* path */
    OP_SETHOSTNAME = 11,   /* name */
    OP_IFUP = 12,          /* interface name */
    OP_SETSID = 13,
    OP_PTY = 14,           /* ptmx path, uid, gid, rows, cols: new pty, master sent on the status fd, slave on 0-2 as ctty */
    OP_DUP2 = 15,          /* oldfd, newfd: newfd without FD_CLOEXEC */
    OP_CLEAR_NONBLOCK = 16,/* fd */
    OP_CLOEXEC_FROM = 17,  /* lowest fd: mark it and all above close-on-exec */
    OP_SETGROUPS = 18,     /* count, gid list (offset to u64 array) */
    OP_SETRESGID = 19,     /* gid */
    OP_SETRESUID = 20,     /* uid */
    OP_PRCTL = 21,         /* option, arg2, arg3, arg4, arg5 */
    OP_RESET_SIGNALS = 22, /* default dispositions, empty mask */
    OP_SETRLIMIT = 23,     /* resource, soft, hard */
    OP_EXEC = 24,          /* file, argv list, envp list, search PATH (NULL: no search) */
    OP_OPEN = 25,          /* path, flags, mode, target fd */
    OP_WRITE_FILE = 26,    /* path, data */
    OP_UMASK = 27,         /* mask */
    OP_EXIT_IF_HUP = 28,   /* fd: exit quietly if its peer is gone (the parent died) */
    OP_SETPGID = 29,       /* pgid: setpgid(0, pgid) */
    OP_CAP_BOUND = 30,     /* keep (bit mask): drop every other capability from the bounding set */
    OP_CAPSET = 31,        /* effective, permitted, inheritable (bit masks): capset(), version 3 */
    OP_SECCOMP = 32,       /* filter (bytes: struct sock_filter[]), count, flags: seccomp(SET_MODE_FILTER) */
    OP_UNSHARE = 33,       /* flags: unshare() (a cgroup namespace once nook has moved us into our cgroup) */
    OP_SETNS = 34,         /* fd, nstype: join the namespace behind fd (nook exec) */
    OP_FORK = 35,          /* clone(CLONE_PARENT): the parent reports the new pid and exits, the child goes on */
    OP_INIT = 36,          /* envp list, tty: fork; the child goes on to exec, the parent executes the init program (--init) */
    /* Paths inside the rootfs are resolved in it (in-root.c), never from the host's /: */
    OP_HOLD_PROC = 37,     /* keep /proc/self/fd open, to name resolved fds to mount() even once /proc is covered */
    OP_SET_ROOT = 38,      /* path: the directory that RESOLVE treats as / */
    OP_RESOLVE = 39,       /* path, create (NOOK_RESOLVE_*), mode: resolve inside the root; the result is the target */
    OP_MOUNT_AT = 40,      /* source (NULL: the target itself), fstype, flags, data: mount onto the target */
    OP_SYMLINK_AT = 41,    /* link text, name: create a symlink in the target directory */
    OP_CHDIR_AT = 42,      /* change to the target directory */
    /* For the OCI runtime (nook oci): */
    OP_SETDOMAINNAME = 43, /* name */
    OP_REPORT = 44,        /* kind: tell the parent where the plan is (4: at the start barrier, 5: namespaces made, 6: ready for hooks) */
    OP_AWAIT_START = 45,   /* fd: a FIFO opened O_RDONLY|O_NONBLOCK: wait until `start` writes one byte */
    OP_RUN_HOOK = 46,      /* path, argv list, envp list, stdin before the pid, stdin after it, timeout (s): run an OCI hook */
    OP_CHECK_EXEC = 47,    /* file, search PATH: fail as execve() would (ENOENT, EACCES) before the start barrier */
    OP_MASK_AT = 48,       /* mask the target: an empty read-only tmpfs on a directory, /dev/null on anything else */
    OP_MKNOD_AT = 49,      /* name, mode, dev, uid, gid: a device node in the target directory */
    OP_INIT_IMAGE = 50,    /* bytes, length: the init program into a sealed memfd, for OP_INIT */
    /* 51 noted the host's pid for hooks: they get the pid as the container sees it (runtime.md). */
    OP_CHROOT = 52,        /* path: chroot() there and chdir("/") (an OCI container without a mount namespace) */
    OP_CLOSE_RANGE = 53,   /* first, last: close every descriptor in between (nook's own, while the init waits to be started) */
};

/* The kinds of status message (keep in sync with Status in ffi/plan-format.ts; a unit test checks). */
enum nook_status_kind {
    STATUS_STEP_FAILED = 1, /* step, op, errno */
    STATUS_PTY_MASTER = 2,  /* the pty master attached */
    STATUS_FORKED = 3,      /* err holds the new pid */
    STATUS_CREATED = 4,     /* OP_REPORT: at the start barrier */
    STATUS_UNSHARED = 5,    /* OP_REPORT: namespaces made, the id maps are due */
    STATUS_HOOKS = 6,       /* OP_REPORT: the parent's createRuntime hooks are due */
};

/* OP_RUN_HOOK's failures, in the errno slot of the status message: a hook's exit status or signal. */
#define NOOK_HOOK_EXIT_BASE 100000
#define NOOK_HOOK_SIGNAL_BASE 200000

struct nook_status {
    int32_t kind;   /* enum nook_status_kind */
    int32_t step;
    int32_t op;
    int32_t err;
};

static uint64_t *plan_words;
static char *plan_base;
static int status_fd = -1;
static int current_step;

static const char *str_arg(uint64_t off) { return off ? plan_base + off : NULL; }

static void close_keep_errno(int fd)
{
    int e = errno;
    close(fd);
    errno = e;
}

static char **list_arg(uint64_t off)
{
    if (!off)
        return NULL;
    uint64_t *v = (uint64_t *)(plan_base + off);
    for (size_t i = 0; v[i]; i++)
        v[i] = (uint64_t)(uintptr_t)(plan_base + v[i]);
    return (char **)v;
}

static void send_status(int kind, int step, int op, int err, int fd)
{
    struct nook_status st = { kind, step, op, err };
    struct iovec iov = { &st, sizeof st };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    while (sendmsg(status_fd, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* A read-only remount of a bind mount inside a user namespace must keep the
 * flags the kernel locked on the original mount (nosuid, nodev, noexec, atime
 * flags), or it fails with EPERM. */
static int remount_bind(const char *target, unsigned long flags)
{
    struct statvfs sv;
    if (statvfs(target, &sv) < 0)
        return -1;
    unsigned long keep = 0;
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) keep |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) keep |= MS_RELATIME;
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | keep | flags, NULL);
}

/*
 * The mount assembly works on resolved fds, not on paths: OP_SET_ROOT opens
 * the directory being assembled, OP_RESOLVE resolves an inside path in it
 * (in-root.c: the container's symlinks are followed inside it, missing mount
 * points are created relative to the directories found), and the mount ops
 * act on that target. pivot_root closes them all: nothing of the host's
 * stays open for the container to reach.
 */
static int proc_fds = -1;      /* the host proc's /proc/self/fd, as a directory */
static int root_fd = -1;
static int target_fd = -1;
static const char *target_path; /* the inside path target_fd was resolved from */

static void replace_fd(int *slot, int fd)
{
    if (*slot >= 0)
        close(*slot);
    *slot = fd;
}

static int pivot_into(const char *root)
{
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0)
        return -1;
    if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        goto fail;
    /* The old root now sits on top of the new one: detach it. */
    if (fchdir(oldroot) < 0)
        goto fail;
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0)
        goto fail;
    close(oldroot);
    replace_fd(&proc_fds, -1);
    replace_fd(&root_fd, -1);
    replace_fd(&target_fd, -1);
    return chdir("/");
fail:;
    int e = errno;
    close(oldroot);
    errno = e;
    return -1;
}

static int if_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static int open_pty(const char *ptmx, uid_t uid, gid_t gid, unsigned rows, unsigned cols)
{
    int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return -1;
    /* The size is set before the command starts, so its first `stty size` is right. */
    struct winsize ws = { (unsigned short)rows, (unsigned short)cols, 0, 0 };
    if (rows && cols && ioctl(master, TIOCSWINSZ, &ws) < 0)
        return -1;
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return -1;
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        return -1;
    if (fchown(slave, uid, gid) < 0 && errno != EINVAL)
        return -1;
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        return -1;
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return -1;
    if (slave > 2)
        close(slave);
    send_status(STATUS_PTY_MASTER, 0, OP_PTY, 0, master);
    close(master);
    return 0;
}

static int cloexec_from(int lowest)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lowest, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) == 0)
        return 0;
#endif
    /* No opendir(): it mallocs, and malloc's locks may have been held by
     * another of nook's threads when this process was cloned. */
    for (int fd = lowest; fd < 65536; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* EBADF for the closed ones */
    return 0;
}

static int reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL); /* fails harmlessly for glibc-reserved signals */
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * execvp()'s lookup with an explicit search path: `attempt` is tried on FILE
 * itself when it has a '/' (or there is no PATH), else on each PATH entry
 * joined with it, until one returns 0. Failing that, the most telling errno:
 * EACCES (found but not executable) beats ENOENT, as in execvp().
 */
static int search_path(const char *file, const char *path, int (*attempt)(const char *candidate, void *ctx), void *ctx)
{
    if (!path || strchr(file, '/'))
        return attempt(file, ctx);
    int best = ENOENT;
    const char *p = path;
    char buf[4096];
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = end - p;
        if (dlen == 0) {
            dlen = 1;
            p = ".";
        }
        if (dlen + strlen(file) + 2 <= sizeof buf) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            strcpy(buf + dlen + 1, file);
            if (attempt(buf, ctx) == 0)
                return 0;
            if (errno != ENOENT && errno != ENOTDIR)
                best = errno;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    errno = best;
    return -1;
}

struct exec_args { char **argv, **envp; };

static int try_execve(const char *candidate, void *ctx)
{
    struct exec_args *a = ctx;
    return execve(candidate, a->argv, a->envp); /* returns only on failure */
}

static int exec_search(const char *file, char **argv, char **envp, const char *path)
{
    struct exec_args a = { argv, envp };
    return search_path(file, path, try_execve, &a);
}

/* Whether execve() would find `candidate` a program: a regular file we may execute. */
static int try_executable(const char *candidate, void *ctx)
{
    (void)ctx;
    struct stat st;
    if (stat(candidate, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode))
        return errno = EACCES, -1;
    return access(candidate, X_OK);
}

/* nook exec: after setns() into the container's pid namespace only children
 * land in it. The child is made nook's own (CLONE_PARENT), so nook waits for
 * it and signals it directly; this process reports its pid and leaves. */
static int fork_into_parent(void)
{
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        return -1;
    if (pid > 0) {
        send_status(STATUS_FORKED, current_step, OP_FORK, pid, -1);
        _exit(0);
    }
    return 0;
}

/* --init: the init program (ffi/init.c) in a sealed memfd, made by OP_INIT_IMAGE for OP_INIT. */
static int init_image_fd = -1;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3 */
#endif

/*
 * Copies the init program into an anonymous file and seals it, so that
 * nothing in the container can change what PID 1 runs (runc does the same
 * for its own binary). Early in the plan, before any seccomp filter, which
 * might refuse memfd_create(). MFD_EXEC: where vm.memfd_noexec=1 makes
 * memfds non-executable by default; kernels before 6.3 say EINVAL to it.
 */
static int load_init_image(const char *bytes, size_t len)
{
    int fd = memfd_create("nook-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("nook-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < len; ) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            goto fail;
        }
        done += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        goto fail;
    init_image_fd = fd;
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/*
 * --init: fork the command, then become the container's PID 1 by executing
 * the init program (ffi/init.c: forwards signals, reaps orphans, exits with
 * the command's status) with the container's environment `envp`. Staying
 * here instead, a copy of nook (or of nook-supervisor) that never execs,
 * would leave nook's memory and environment to the container's reading
 * (/proc/1/environ, /proc/1/mem, ptrace).
 *
 * Every signal is blocked before the fork and stays so across execve(), as
 * does a SIGCHLD already pending: init takes them with sigtimedwait().
 * The command waits on a gate for one byte, written by the init program once
 * it is named and has its handlers (nook's relay reads /proc/1/status as
 * soon as the command runs), so it never sees a half-made PID 1. EOF instead:
 * init failed to start and reported it; the command leaves quietly.
 *
 * With `tty` (-t: the pty is this session's controlling terminal) the
 * command also gets a process group of its own, in the foreground, so typed
 * ^C reaches it once (not also through init); without a terminal there is no
 * foreground to give. Returns 0 in the child, which goes on with the plan.
 */
/* Decimal digits of v, written backwards from `end` (a NUL is put there); returns the first. */
static char *utoa(unsigned v, char *end)
{
    *end = 0;
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

static int run_init(char **envp, int tty)
{
    if (init_image_fd < 0)
        return errno = EBADF, -1;
    sigset_t all, old;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) < 0)
        return -1;
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) < 0)
        return -1;
    /* A raw clone, not fork(): glibc's fork() takes malloc's and stdio's locks,
     * which another of nook's threads may have held at clone time (a hang). */
    pid_t child = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child < 0)
        return -1;
    if (child == 0) {
        char c;
        ssize_t n;
        close(gate[1]);
        if (tty)
            setpgid(0, 0);
        while ((n = read(gate[0], &c, 1)) < 0 && errno == EINTR)
            ;
        close(gate[0]);
        if (n != 1)
            _exit(125);
        return sigprocmask(SIG_SETMASK, &old, NULL);
    }
    close(gate[0]);
    if (tty) {
        setpgid(child, child);
        tcsetpgrp(0, child); /* SIGTTOU is blocked: this works from any group */
    }
    /* The gate goes to init as fd 3. Every other descriptor is close-on-exec
     * (CLOEXEC_FROM in the plan): the status socket stays usable until then,
     * to report a failed exec, and closes with it so nook sees the command's exec. */
    int img = init_image_fd;
    if (status_fd == 3)
        status_fd = fcntl(3, F_DUPFD_CLOEXEC, 4);
    if (img == 3 && (img = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0)
        return -1;
    if (gate[1] == 3) {
        if (fcntl(3, F_SETFD, 0) < 0)
            return -1;
    } else if (dup2(gate[1], 3) < 0) {
        return -1;
    }
    cloexec_from(4);
    /* argv[1]: the command's pid (in this pid namespace); no snprintf(), whose locale may lock. */
    char pid[12], num[12], path[40] = "/proc/self/fd/";
    char *argv[] = { "nook-init", utoa((unsigned)child, pid + sizeof pid - 1), NULL };
    syscall(SYS_execveat, img, "", argv, envp, AT_EMPTY_PATH);
    /* A seccomp profile may refuse execveat() (docker's allows it): the same file through /proc. */
    int e = errno;
    strcat(path, utoa((unsigned)img, num + sizeof num - 1));
    execve(path, argv, envp);
    if (errno == ENOENT)
        errno = e; /* no /proc: execveat's reason is the telling one */
    return -1;
}

/* Set when an optional target (NOOK_RESOLVE_OPTIONAL) could not be made: the ops on it are skipped. */
static int target_skipped;

static int resolve_target(const char *path, int create, mode_t mode)
{
    if (root_fd < 0)
        return errno = EBADF, -1;
    int fd = nook_resolve_in_root(root_fd, path, create & ~NOOK_RESOLVE_OPTIONAL, mode);
    if (fd < 0) {
        /* A rootfs nook may not write to (or that lacks the directory) simply goes without it. */
        int skippable = errno == EACCES || errno == EROFS || errno == EPERM || errno == ENOENT || errno == ENOTDIR;
        if (!(create & NOOK_RESOLVE_OPTIONAL) || !skippable)
            return -1;
        replace_fd(&target_fd, -1);
        target_skipped = 1;
        return 0;
    }
    replace_fd(&target_fd, fd);
    target_path = path;
    target_skipped = 0;
    return 0;
}

/* mount() takes paths: fd N is named "N" relative to the held /proc/self/fd
 * (with --rootfs / the assembly covers /proc itself, so no absolute path would do). */
static int mount_on_fd(const char *source, int fd, const char *fstype, unsigned long flags, const void *data)
{
    char name[16];
    if (proc_fds < 0)
        return errno = EBADF, -1;
    if (fchdir(proc_fds) < 0)
        return -1;
    nook_format_fd(name, fd);
    return mount(source, name, fstype, flags, data);
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define NOOK_OPEN_TREE_CLONE 1
#define NOOK_AT_RECURSIVE 0x8000
#define NOOK_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define NOOK_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define NOOK_MOUNT_ATTR_RDONLY 0x1
#define NOOK_MOUNT_ATTR_NOSUID 0x2
#define NOOK_MOUNT_ATTR_NODEV 0x4
#define NOOK_MOUNT_ATTR_NOEXEC 0x8
/* The per-mount flags a bind may carry besides read-only (-v ...:noexec,nosuid,nodev). */
#define NOOK_BIND_ATTR_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

struct nook_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Kernels before 5.12 (no mount_setattr) or 5.2 (no open_tree): bind through
 * the fd's name, then remount read-only what a fresh lookup finds there (the
 * fd itself still names the directory under the new mount), once it is sure
 * to be the new mount's root. /sys's submounts stay writable there. */
static int bind_onto_target_legacy(const char *source, unsigned long flags)
{
    char self[16];
    nook_format_fd(self, target_fd);
    if (mount_on_fd(source ? source : self, target_fd, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
        return -1;
    if (!(flags & NOOK_BIND_ATTR_FLAGS))
        return 0;
    int top = nook_resolve_in_root(root_fd, target_path, NOOK_RESOLVE_EXISTING, 0);
    if (top < 0)
        return -1;
    struct stat want, got;
    int ok = fstat(top, &got) == 0 && (source ? stat(source, &want) : fstat(target_fd, &want)) == 0;
    if (ok && (got.st_dev != want.st_dev || got.st_ino != want.st_ino)) {
        close(top);
        return errno = EAGAIN, -1; /* the path was swapped under us */
    }
    char name[16];
    nook_format_fd(name, top);
    int r = ok ? remount_bind(name, flags & NOOK_BIND_ATTR_FLAGS) : -1; /* cwd is proc_fds since mount_on_fd */
    close_keep_errno(top);
    return r;
}

/* A bind mount onto the target, read-only (recursively with MS_REC) in one
 * step where the kernel has the new mount API: a detached copy of the source
 * tree gets its attributes before it is attached, so it is never writable. */
static int bind_onto_target(const char *source, unsigned long flags)
{
    unsigned rec = (flags & MS_REC) ? NOOK_AT_RECURSIVE : 0;
    int tree = source
        ? (int)syscall(SYS_open_tree, AT_FDCWD, source, NOOK_OPEN_TREE_CLONE | O_CLOEXEC | rec)
        : (int)syscall(SYS_open_tree, target_fd, "", NOOK_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | rec);
    if (tree < 0)
        return errno == ENOSYS ? bind_onto_target_legacy(source, flags) : -1;
    if (flags & NOOK_BIND_ATTR_FLAGS) {
        uint64_t set = ((flags & MS_RDONLY) ? NOOK_MOUNT_ATTR_RDONLY : 0) | ((flags & MS_NOSUID) ? NOOK_MOUNT_ATTR_NOSUID : 0) |
                       ((flags & MS_NODEV) ? NOOK_MOUNT_ATTR_NODEV : 0) | ((flags & MS_NOEXEC) ? NOOK_MOUNT_ATTR_NOEXEC : 0);
        struct nook_mount_attr attr = { set, 0, 0, 0 };
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0) {
            int e = errno;
            close(tree);
            return e == ENOSYS ? bind_onto_target_legacy(source, flags) : (errno = e, -1);
        }
    }
    int r = (int)syscall(SYS_move_mount, tree, "", target_fd, "", NOOK_MOVE_MOUNT_F_EMPTY_PATH | NOOK_MOVE_MOUNT_T_EMPTY_PATH);
    close_keep_errno(tree);
    return r;
}

static int mount_at_target(const char *source, const char *fstype, unsigned long flags, const char *data)
{
    if (target_skipped)
        return 0;
    if (target_fd < 0)
        return errno = EBADF, -1;
    if (flags & MS_BIND)
        return bind_onto_target(source, flags);
    return mount_on_fd(source, target_fd, fstype, flags, data);
}

/* Writes all of buf to fd (a hook's stdin): EPIPE from a hook that does not read is not an error. */
static void write_all_quiet(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/*
 * An OCI hook: `path` with argv and envp, the container's state on stdin
 * (`before` + this process's pid + `after`), stdout and stderr shared with this process.
 * Nothing else of ours reaches it (close-on-exec from 3). Waits at most
 * `timeout` seconds (0: no limit), then kills it.
 */
static int run_hook(const char *path, char **argv, char **envp, const char *before, const char *after, unsigned timeout)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return errno = e, -1;
    }
    if (pid == 0) {
        if (dup2(in[0], 0) < 0)
            _exit(127);
        cloexec_from(3);
        reset_signals();
        char *none[] = { NULL };
        execve(path, argv, envp ? envp : none);
        _exit(127);
    }
    close(in[0]);
    /* SIGPIPE from a hook that closed its stdin must not end this process. */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    char num[24];
    /* runtime.md: a hook in the container's namespaces gets the pid as the container sees it. */
    const char *p = utoa((unsigned)getpid(), num + sizeof num - 1);
    write_all_quiet(in[1], before, strlen(before));
    write_all_quiet(in[1], p, strlen(p));
    write_all_quiet(in[1], after, strlen(after));
    close(in[1]);
    sigaction(SIGPIPE, &old, NULL);
    int status;
    for (unsigned long waited_ms = 0;; waited_ms += 10) {
        int r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (timeout && waited_ms >= timeout * 1000UL) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return errno = ETIMEDOUT, -1;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    errno = WIFEXITED(status) ? NOOK_HOOK_EXIT_BASE + WEXITSTATUS(status) : NOOK_HOOK_SIGNAL_BASE + WTERMSIG(status);
    return -1;
}

/* Like execve()'s lookup, without executing: the file must exist and be executable. */
static int check_exec(const char *file, const char *path)
{
    return search_path(file, path, try_executable, NULL);
}

/* `start` writes one byte into the FIFO: until then poll() sees no writer's hang-up (the FIFO never had one). */
static int await_start(int fd)
{
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n == 1)
            return 0;
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return errno = n == 0 ? ECANCELED : errno, -1;
    }
}

static int mask_target(void)
{
    struct stat st;
    if (target_skipped)
        return 0;
    if (target_fd < 0)
        return errno = EBADF, -1;
    if (fstat(target_fd, &st) < 0)
        return -1;
    if (S_ISDIR(st.st_mode))
        return mount_on_fd("tmpfs", target_fd, "tmpfs", MS_RDONLY, "size=0");
    return bind_onto_target("/dev/null", 0);
}

static int mknod_at_target(const char *name, mode_t mode, dev_t dev, uid_t uid, gid_t gid)
{
    if (target_fd < 0)
        return errno = EBADF, -1;
    /* target_fd is O_PATH: the directory itself is reached through its /proc/self/fd name. */
    char dir[16];
    nook_format_fd(dir, target_fd);
    if (proc_fds < 0)
        return errno = EBADF, -1;
    int d = openat(proc_fds, dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (d < 0)
        return -1;
    unlinkat(d, name, 0); /* a device of the image's own gives way to the configured one */
    int r = mknodat(d, name, mode, dev);
    /* mknod() applies the umask: the configured mode is set again, whole. */
    if (r == 0)
        r = fchmodat(d, name, mode & 07777, 0);
    if (r == 0)
        r = fchownat(d, name, uid, gid, AT_SYMLINK_NOFOLLOW);
    close_keep_errno(d);
    return r;
}

static int run_op(const uint64_t *a)
{
    switch ((int)a[0]) {
    case OP_WAIT_FD: {
        char c;
        ssize_t n;
        while ((n = read((int)a[1], &c, 1)) < 0 && errno == EINTR)
            ;
        if (n == 0)
            _exit(125); /* the parent gave up before we started: nothing to report */
        return n < 0 ? -1 : 0;
    }
    case OP_CLOSE: return close((int)a[1]);
    case OP_MOUNT: return mount(str_arg(a[1]), str_arg(a[2]), str_arg(a[3]), a[4], str_arg(a[5]));
    case OP_REMOUNT_BIND: return remount_bind(str_arg(a[1]), a[2]);
    case OP_UMOUNT: return umount2(str_arg(a[1]), (int)a[2]);
    case OP_PIVOT_ROOT: return pivot_into(str_arg(a[1]));
    case OP_CHDIR: return chdir(str_arg(a[1]));
    case OP_SETHOSTNAME: {
        const char *h = str_arg(a[1]);
        return sethostname(h, strlen(h));
    }
    case OP_IFUP: return if_up(str_arg(a[1]));
    case OP_SETSID: return setsid() < 0 ? -1 : 0;
    case OP_PTY: return open_pty(str_arg(a[1]), (uid_t)a[2], (gid_t)a[3], (unsigned)a[4], (unsigned)a[5]);
    case OP_DUP2: {
        int from = (int)a[1], to = (int)a[2];
        if (from == to) /* clear FD_CLOEXEC; a closed stdio fd stays closed */
            return (fcntl(to, F_SETFD, 0) < 0 && errno != EBADF) ? -1 : 0;
        return dup2(from, to) < 0 ? -1 : 0;
    }
    case OP_CLEAR_NONBLOCK: {
        int fd = (int)a[1];
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return errno == EBADF ? 0 : -1; /* a closed stdio fd stays closed */
        return (fl & O_NONBLOCK) ? fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) : 0;
    }
    case OP_CLOEXEC_FROM: return cloexec_from((int)a[1]);
    case OP_SETGROUPS: {
        size_t n = a[1];
        uint64_t *g64 = (uint64_t *)(plan_base + a[2]);
        gid_t gids[256];
        if (n > 256)
            return errno = E2BIG, -1;
        for (size_t i = 0; i < n; i++)
            gids[i] = (gid_t)g64[i];
        return (int)syscall(SYS_setgroups, n, gids);
    }
    /* Raw syscalls: glibc's wrappers would apply the change to every thread
     * it believes exists (nook's Node threads, gone in this copy), taking its
     * thread-list lock, which another thread may have held at clone time. */
    case OP_SETRESGID: return (int)syscall(SYS_setresgid, (gid_t)a[1], (gid_t)a[1], (gid_t)a[1]);
    case OP_SETRESUID: return (int)syscall(SYS_setresuid, (uid_t)a[1], (uid_t)a[1], (uid_t)a[1]);
    case OP_PRCTL: return prctl((int)a[1], a[2], a[3], a[4], a[5]) < 0 ? -1 : 0;
    case OP_RESET_SIGNALS: return reset_signals();
    case OP_SETRLIMIT: {
        struct rlimit rl = { (rlim_t)a[2], (rlim_t)a[3] };
        return setrlimit((int)a[1], &rl);
    }
    case OP_EXEC:
        return exec_search(str_arg(a[1]), list_arg(a[2]), list_arg(a[3]), str_arg(a[4]));
    case OP_OPEN: {
        int fd = open(str_arg(a[1]), (int)a[2], (mode_t)a[3]);
        if (fd < 0)
            return -1;
        int to = (int)a[4];
        if (fd == to)
            return fcntl(fd, F_SETFD, 0);
        int r = dup2(fd, to);
        close(fd);
        return r < 0 ? -1 : 0;
    }
    case OP_WRITE_FILE: {
        int fd = open(str_arg(a[1]), O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        const char *d = str_arg(a[2]);
        ssize_t n = write(fd, d, strlen(d));
        int e = errno;
        close(fd);
        errno = e;
        return n < 0 ? -1 : 0;
    }
    case OP_UMASK: umask((mode_t)a[1]); return 0;
    case OP_SETPGID: return setpgid(0, (pid_t)a[1]);
    case OP_UNSHARE: return unshare((int)a[1]);
    case OP_SETNS: return setns((int)a[1], (int)a[2]);
    case OP_FORK: return fork_into_parent();
    case OP_INIT: return run_init(list_arg(a[1]), (int)a[2]);
    case OP_INIT_IMAGE: return load_init_image(str_arg(a[1]), (size_t)a[2]);
    case OP_HOLD_PROC: {
        int fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        replace_fd(&proc_fds, fd);
        return 0;
    }
    case OP_SET_ROOT: {
        int fd = open(str_arg(a[1]), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        replace_fd(&root_fd, fd);
        return 0;
    }
    case OP_RESOLVE: return resolve_target(str_arg(a[1]), (int)a[2], (mode_t)a[3]);
    case OP_MOUNT_AT: return mount_at_target(str_arg(a[1]), str_arg(a[2]), a[3], str_arg(a[4]));
    case OP_SYMLINK_AT:
        if (target_fd < 0)
            return errno = EBADF, -1;
        /* A link that is there already (an OCI bundle's /dev on the image's own) stays. */
        return (symlinkat(str_arg(a[1]), target_fd, str_arg(a[2])) < 0 && errno != EEXIST) ? -1 : 0;
    case OP_CHDIR_AT: return target_fd < 0 ? (errno = EBADF, -1) : fchdir(target_fd);
    case OP_CAP_BOUND:
        for (int cap = 0; cap < 64; cap++)
            if (!((a[1] >> cap) & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                return -1; /* EINVAL: past the kernel's last capability */
        return 0;
    case OP_CAPSET: {
        struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
        struct { uint32_t effective, permitted, inheritable; } data[2] = {
            { (uint32_t)a[1], (uint32_t)a[2], (uint32_t)a[3] },
            { (uint32_t)(a[1] >> 32), (uint32_t)(a[2] >> 32), (uint32_t)(a[3] >> 32) },
        };
        return (int)syscall(SYS_capset, &hdr, data);
    }
    case OP_SECCOMP: {
        struct { unsigned short len; const void *filter; } prog = { (unsigned short)a[2], str_arg(a[1]) };
        return (int)syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, (unsigned)a[3], &prog);
    }
    case OP_EXIT_IF_HUP: {
        struct pollfd p = { (int)a[1], POLLIN, 0 };
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
            _exit(125);
        return 0;
    }
    case OP_SETDOMAINNAME: {
        const char *d = str_arg(a[1]);
        return setdomainname(d, strlen(d));
    }
    case OP_REPORT: send_status((int)a[1], current_step, OP_REPORT, 0, -1); return 0;
    case OP_AWAIT_START: return await_start((int)a[1]);
    case OP_RUN_HOOK:
        return run_hook(str_arg(a[1]), list_arg(a[2]), list_arg(a[3]), str_arg(a[4]), str_arg(a[5]), (unsigned)a[6]);
    case OP_CHECK_EXEC: return check_exec(str_arg(a[1]), str_arg(a[2]));
    case OP_MASK_AT: return mask_target();
    case OP_MKNOD_AT: return mknod_at_target(str_arg(a[1]), (mode_t)a[2], (dev_t)a[3], (uid_t)a[4], (gid_t)a[5]);
    case OP_CLOSE_RANGE: {
        unsigned first = (unsigned)a[1], last = (unsigned)a[2];
#ifdef SYS_close_range
        if (syscall(SYS_close_range, first, last, 0) == 0)
            return 0;
#endif
        for (unsigned fd = first; fd <= last && fd < 65536; fd++)
            close((int)fd); /* EBADF for the closed ones */
        return 0;
    }
    case OP_CHROOT: return (chroot(str_arg(a[1])) < 0 || chdir("/") < 0) ? -1 : 0;
    default: return errno = ENOSYS, -1;
    }
}

/* The clone() child function. Never returns on success (execve). */
int nook_exec_plan(void *plan)
{
    plan_words = plan;
    plan_base = plan;
    if (plan_words[0] != NOOK_PLAN_MAGIC)
        _exit(125);
    uint64_t nops = plan_words[1];
    status_fd = (int)plan_words[2];
    for (uint64_t i = 0; i < nops; i++) {
        const uint64_t *op = plan_words + 3 + i * NOOK_OP_WORDS;
        current_step = (int)i;
        if (run_op(op) < 0) {
            send_status(STATUS_STEP_FAILED, (int)i, (int)op[0], errno, -1);
            _exit(125);
        }
    }
    /* A plan that does not end in exec has nothing more to do. */
    _exit(0);
}

/* A stack for clone(): the child gets its own copy-on-write copy of it. */
static char child_stack[256 * 1024] __attribute__((aligned(64)));

void *nook_child_stack_top(void) { return child_stack + sizeof child_stack; }

/*
 * Parent side: read one status message, and the fd attached to it if any.
 * Returns the number of bytes read (0 on EOF: the plan reached execve), or
 * -errno. Lives here because building a msghdr with SCM_RIGHTS through the
 * FFI is clumsier than these lines of C.
 */
int nook_read_status(int fd, int32_t *out4, int *passed_fd)
{
    struct iovec iov = { out4, 4 * sizeof(int32_t) };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    *passed_fd = -1;
    ssize_t n;
    while ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
    return (int)n;
}

/* Parent side: wait for a child and return its raw wait status (or -errno).
 * Called from a koffi worker thread so the event loop keeps running. */
int nook_wait_child(int pid)
{
    int status;
    for (;;) {
        int r = waitpid(pid, &status, __WALL);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/*
 * Parent side: reaps `pid` if it has ended: its raw wait status, -EAGAIN
 * while it runs, or -errno. nook calls it on SIGCHLD, so that waiting for a
 * sandbox needs no thread (starting libuv's pool cost ~3 ms of `nook run`).
 */
int nook_try_wait_child(int pid)
{
    int status;
    for (;;) {
        int r = waitpid(pid, &status, __WALL | WNOHANG);
        if (r == pid)
            return status;
        if (r == 0)
            return -EAGAIN;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/*
 * Parent side: a pidfd for `pid` (Linux 5.3+; always close-on-exec), or
 * -errno: -ENOSYS on older kernels, -ESRCH when no such process exists. A
 * pidfd names one process for good: once it is reaped, signals through it
 * fail with ESRCH instead of reaching whoever gets its pid next.
 */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int nook_pidfd_open(int pid)
{
    long r = syscall(SYS_pidfd_open, pid, 0);
    return r < 0 ? -errno : (int)r;
}

/* Parent side: pidfd_send_signal(); 0 or -errno (-ESRCH: the process has ended). */
int nook_pidfd_send_signal(int pidfd, int sig)
{
    long r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    return r < 0 ? -errno : 0;
}

/*
 * Parent side: start a helper program (newuidmap, newgidmap) with stdin from
 * /dev/null and stdout+stderr into `outfd`. posix_spawn() uses vfork-style
 * clone, far cheaper than forking a Node-sized process. Returns the pid or
 * -errno; reap it with nook_wait_child().
 */
extern char **environ;

int nook_spawn(const char *path, char *const argv[], int outfd)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int r = posix_spawn_file_actions_init(&fa);
    if (r)
        return -r;
    r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, outfd, 1);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, outfd, 2);
    if (!r)
        r = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return r ? -r : pid;
}


/*
 * Parent side (nook oci): sends `fd` to the AF_UNIX stream socket at `path`
 * by SCM_RIGHTS, with `name` as the message (runc's --console-socket
 * protocol: the pty master of a container with a terminal). 0 or -errno.
 */
int nook_send_fd_to_socket(const char *path, int fd, const char *name)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    struct iovec iov = { (void *)name, strlen(name) };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    while ((n = sendmsg(s, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    int e = n < 0 ? errno : 0;
    close(s);
    return -e;
}
