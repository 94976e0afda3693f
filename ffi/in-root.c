/*
 * Resolving a path inside a root directory, as if that directory were /.
 *
 * A rootfs belongs to the container: any component of a path in it may be a
 * symlink that the container planted (or swaps in while nook works, when two
 * containers share a --rootfs). Resolving such a path on the host side would
 * follow an absolute link from the host's /, so a mount point, a working
 * directory or a file nook reads could land outside the rootfs. Here every
 * symlink is followed inside the root, ".." stops at the root, and magic
 * links (/proc/PID/fd/N and friends) are never jumped through: their text is
 * resolved inside the root like any other link's.
 *
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does all that in one call
 * on Linux >= 5.6; where it is missing, refused (seccomp), or the path does
 * not exist yet and must be created, a component-by-component walk does it
 * with O_PATH|O_NOFOLLOW opens relative to the directory already reached (as
 * crun's safe_openat and bubblewrap do). The walk keeps the directories it
 * went through, so ".." goes back to the one it came from and can never rise
 * above the root, whatever is renamed meanwhile.
 *
 * Runs in the cloned child: no malloc, no stdio, nothing that takes a lock.
 */
#define _GNU_SOURCE
#include "in-root.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define NOOK_RESOLVE_NO_MAGICLINKS 0x02
#define NOOK_RESOLVE_IN_ROOT 0x10

struct nook_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

enum { MAX_DEPTH = 128, MAX_LINKS = 40 };

static void close_keep_errno(int fd)
{
    int e = errno;
    close(fd);
    errno = e;
}

static int fail_with(int *stack, int depth, int err)
{
    /* stack[0] is the caller's root: not ours to close. */
    for (int i = depth - 1; i > 0; i--)
        close(stack[i]);
    errno = err;
    return -1;
}

/* Creates the missing component `name` in `dir`: a directory, or (the last
 * component, when asked) an empty regular file. An existing one is fine. */
static int create_component(int dir, const char *name, int as_file, mode_t mode)
{
    if (!as_file)
        return (mkdirat(dir, name, mode) < 0 && errno != EEXIST) ? -1 : 0;
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0)
        return close(fd);
    return errno == EEXIST ? 0 : -1;
}

int nook_walk_in_root(int root, const char *path, int create, mode_t mode)
{
    char rest[2 * 4096];
    size_t plen = strlen(path);
    if (plen >= sizeof rest)
        return errno = ENAMETOOLONG, -1;
    memcpy(rest, path, plen + 1);
    char *p = rest;
    int stack[MAX_DEPTH];
    int depth = 0, links = 0;
    stack[depth++] = root;

    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        char name[256];
        if (len >= sizeof name)
            return fail_with(stack, depth, ENAMETOOLONG);
        memcpy(name, p, len);
        name[len] = 0;
        p = end;
        const char *q = p;
        while (*q == '/')
            q++;
        int last = !*q;

        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (depth > 1)
                close(stack[--depth]);
            continue;
        }
        int dir = stack[depth - 1];
        int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create != NOOK_RESOLVE_EXISTING) {
            /* `mode` is for what the path names; directories made on the way to it are 0755. */
            if (create_component(dir, name, last && create == NOOK_RESOLVE_CREATE_FILE, last ? mode : 0755) < 0)
                return fail_with(stack, depth, errno);
            fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
            return fail_with(stack, depth, errno);
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close_keep_errno(fd);
            return fail_with(stack, depth, errno);
        }
        if (S_ISLNK(st.st_mode)) {
            /* Splice the link's text in front of what is left, and go on from
             * the root (absolute link) or from this directory (relative). */
            char link[4096];
            ssize_t n = readlinkat(fd, "", link, sizeof link);
            close_keep_errno(fd);
            if (n < 0)
                return fail_with(stack, depth, errno);
            if (++links > MAX_LINKS)
                return fail_with(stack, depth, ELOOP);
            size_t tail = strlen(p);
            if ((size_t)n >= sizeof link || (size_t)n + tail + 1 > sizeof rest)
                return fail_with(stack, depth, ENAMETOOLONG);
            memmove(rest + n, p, tail + 1);
            memcpy(rest, link, (size_t)n);
            p = rest;
            if (link[0] == '/')
                while (depth > 1)
                    close(stack[--depth]);
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            close(fd);
            return fail_with(stack, depth, ENOTDIR);
        }
        if (depth == MAX_DEPTH) {
            close(fd);
            return fail_with(stack, depth, ENAMETOOLONG);
        }
        stack[depth++] = fd;
    }
    if (depth == 1)
        return fcntl(root, F_DUPFD_CLOEXEC, 0);
    int result = stack[--depth];
    fail_with(stack, depth, 0);
    return result;
}

int nook_resolve_in_root(int root, const char *path, int create, mode_t mode)
{
    struct nook_open_how how = { O_PATH | O_CLOEXEC, 0, NOOK_RESOLVE_IN_ROOT | NOOK_RESOLVE_NO_MAGICLINKS };
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0)
        return fd;
    /* Whatever openat2 said (missing, ENOSYS, refused by seccomp, a rename
     * race), the walk gives the authoritative answer, and creates what is
     * missing when asked to. */
    return nook_walk_in_root(root, path, create, mode);
}

/*
 * For nook itself (not the child): opens the regular file `path` inside the
 * directory `root` for reading, without blocking (a FIFO planted there must
 * not hang nook). Returns the fd, -EINVAL when it is not a regular file, or
 * -errno.
 */
int nook_open_file_in_root(const char *root, const char *path)
{
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return -errno;
    int fd = nook_resolve_in_root(rootfd, path, NOOK_RESOLVE_EXISTING, 0);
    int err = errno;
    close(rootfd);
    if (fd < 0)
        return -err;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    /* Reopen the very inode the walk found: an O_PATH fd cannot be read. */
    char proc[64] = "/proc/self/fd/";
    nook_format_fd(proc + strlen(proc), fd);
    int readable = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    err = errno;
    close(fd);
    return readable < 0 ? -err : readable;
}

/* Decimal text of a non-negative fd, without snprintf (which may take locks in the child). */
void nook_format_fd(char *out, int fd)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd && n < (int)sizeof tmp);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
}
