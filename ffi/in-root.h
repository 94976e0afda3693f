/* Path resolution confined to a root directory: see in-root.c. */
#ifndef NOOK_IN_ROOT_H
#define NOOK_IN_ROOT_H
#include <stdint.h>
#include <sys/types.h>

/* What to do with missing components (keep in sync with ffi/plan-format.ts). */
enum {
    NOOK_RESOLVE_EXISTING = 0,    /* every component must exist */
    NOOK_RESOLVE_CREATE_DIR = 1,  /* create missing directories, the last one included */
    NOOK_RESOLVE_CREATE_FILE = 2, /* create missing directories, and the last component as an empty file */
    NOOK_RESOLVE_OPTIONAL = 4,    /* with the above, for the executor's RESOLVE: a path it cannot make is skipped, not fatal */
};

/* Resolves `path` inside the directory `root` (an fd) as if it were /. Returns an O_PATH|O_CLOEXEC fd, or -1 with errno. */
int nook_resolve_in_root(int root, const char *path, int create, mode_t mode);

/* The fallback for kernels without openat2 (and for creating what is missing), alone: exported for tests. */
int nook_walk_in_root(int root, const char *path, int create, mode_t mode);

/* Opens a regular file inside the directory `root` for reading (O_NONBLOCK). Returns the fd, -EINVAL if not a regular file, or -errno. */
int nook_open_file_in_root(const char *root, const char *path);

/* Writes the decimal text of fd into out (at least 12 bytes). */
void nook_format_fd(char *out, int fd);

#endif
