/*
 * The supervisor's log writer: see supervisor-log.h for the format and the
 * rotation. No allocation, no policy; one write() per record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "supervisor-log.h"

/* "2026-12-02T18:50:56.123456789Z stderr P " */
#define HEADER_MAX 48

static int open_current(struct nook_log *log)
{
    log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    log->torn = 0;
    if (log->fd < 0)
        return -1;
    struct stat st;
    log->size = fstat(log->fd, &st) == 0 ? (long long)st.st_size : 0;
    return 0;
}

int nook_log_open(struct nook_log *log, const char *path, long long max_size, int max_files)
{
    size_t len = strlen(path);
    log->fd = -1;
    log->size = 0;
    log->torn = 0;
    /* Room for the rotated names' ".N" too. */
    if (len + 16 > sizeof log->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(log->path, path, len + 1);
    log->max_size = max_size;
    log->max_files = max_files < 1 ? 1 : max_files;
    return open_current(log);
}

static void numbered(char *out, size_t cap, const char *path, int k)
{
    snprintf(out, cap, "%s.%d", path, k);
}

/* PATH.(k) -> PATH.(k+1) (the oldest replaced, so dropped), PATH -> PATH.1, and a fresh PATH. */
static void rotate(struct nook_log *log)
{
    char from[NOOK_LOG_PATH_MAX + 16], to[NOOK_LOG_PATH_MAX + 16];
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    int drop = log->max_files == 1;
    if (!drop) {
        for (int k = log->max_files - 2; k >= 1; k--) {
            numbered(from, sizeof from, log->path, k);
            numbered(to, sizeof to, log->path, k + 1);
            rename(from, to); /* not there yet: fine */
        }
        numbered(to, sizeof to, log->path, 1);
        /* When it can't be kept, drop it rather than let the file grow past the bound. */
        if (rename(log->path, to) != 0 && errno != ENOENT)
            drop = 1;
    }
    /* Unlinked rather than truncated: a reader holding it open reads it to its end, not into a hole. */
    if (drop)
        unlink(log->path);
    open_current(log);
}

/* Exactly `width` decimal digits of v (zero-padded), without stdio: the hot path stays small and can't truncate. */
static char *put_dec(char *p, unsigned long v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* "TIMESTAMP STREAM TAG " into p; returns its length. */
static size_t header(char *p, int stream, char tag)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char *q = p;
    q = put_dec(q, (unsigned long)(tm.tm_year + 1900), 4);
    *q++ = '-';
    q = put_dec(q, (unsigned long)(tm.tm_mon + 1), 2);
    *q++ = '-';
    q = put_dec(q, (unsigned long)tm.tm_mday, 2);
    *q++ = 'T';
    q = put_dec(q, (unsigned long)tm.tm_hour, 2);
    *q++ = ':';
    q = put_dec(q, (unsigned long)tm.tm_min, 2);
    *q++ = ':';
    q = put_dec(q, (unsigned long)tm.tm_sec, 2);
    *q++ = '.';
    q = put_dec(q, (unsigned long)ts.tv_nsec, 9);
    *q++ = 'Z';
    *q++ = ' ';
    memcpy(q, stream == 2 ? "stderr " : "stdout ", 7);
    q += 7;
    *q++ = tag;
    *q++ = ' ';
    return (size_t)(q - p);
}

/* Writes a whole record; a short write is followed by more writes, and the size counts what landed. */
static int write_all(struct nook_log *log, const char *p, size_t n, size_t *done)
{
    while (n > 0) {
        ssize_t w = write(log->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        log->size += w;
        *done += (size_t)w;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One record (content holds no newline): built in one buffer and written with one write(). */
static int record(struct nook_log *log, int stream, char tag, const char *text, size_t n)
{
    /* One spare byte in front: a newline that ends a record torn by a failed write (disk full)
     * so that the records after it stay readable. */
    char buf[1 + HEADER_MAX + NOOK_LOG_CHUNK + 1];
    char *start = buf + 1;
    size_t h = header(start, stream, tag);
    memcpy(start + h, text, n);
    start[h + n] = '\n';
    size_t total = h + n + 1;

    if (log->fd < 0 && open_current(log) < 0)
        return -1;
    if (log->max_size > 0 && log->size > 0 && log->size + (long long)total > log->max_size) {
        rotate(log);
        if (log->fd < 0)
            return -1;
    }
    if (log->torn) {
        *--start = '\n';
        total++;
    }
    size_t done = 0;
    int r = write_all(log, start, total, &done);
    log->torn = done > 0 && done < total;
    return r;
}

int nook_log_write(struct nook_log *log, int stream, const char *buf, size_t n)
{
    int r = 0;
    while (n > 0) {
        size_t window = n < NOOK_LOG_CHUNK ? n : NOOK_LOG_CHUNK;
        const char *nl = memchr(buf, '\n', window);
        size_t len = nl ? (size_t)(nl - buf) : window;
        /* A line's end gets F; the rest of a read, or a long line's chunk, is partial. */
        if (record(log, stream, nl ? 'F' : 'P', buf, len) < 0)
            r = -1;
        size_t used = len + (nl ? 1 : 0);
        buf += used;
        n -= used;
    }
    return r;
}

void nook_log_close(struct nook_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}
