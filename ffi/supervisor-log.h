/*
 * A detached container's log, in the CRI format that containerd and CRI-O
 * write (src/container/logs.ts reads it): one record per line,
 *
 *   2026-12-02T18:50:56.123456789Z stdout F the line's text
 *
 * F: the content ends a line (the record's newline is the line's).
 * P: part of a line, which the following records of the same stream
 *    complete: a read ended mid-line, or the line is longer than
 *    NOOK_LOG_CHUNK. The writer keeps no partial state: what is left of a
 *    read without its newline becomes a P record at once.
 *
 * Each record goes out in one write(), so a reader sees whole records (or,
 * at the very end while it is being written, a record without its newline
 * yet). Rotation keeps the total bounded: before a record would take
 * PATH past max_size, PATH.(k) becomes PATH.(k+1) (the oldest dropped),
 * PATH becomes PATH.1, and a fresh PATH is started; a record is never
 * split across files. With max_files == 1 the old content is dropped
 * instead (PATH unlinked and created again, so that a reader holding it
 * open finishes it cleanly rather than seeing it truncated under it).
 *
 * No allocation, no policy: the supervisor decides the sizes.
 */
#ifndef NOOK_SUPERVISOR_LOG_H
#define NOOK_SUPERVISOR_LOG_H
#include <stddef.h>

/* The most content in one record: longer lines become several P records and an F. */
#define NOOK_LOG_CHUNK 16384
#define NOOK_LOG_PATH_MAX 4096

struct nook_log {
    int fd;              /* the current file, -1 when it could not be (re)opened: retried on the next write */
    char path[NOOK_LOG_PATH_MAX];
    long long size;      /* bytes in the current file */
    long long max_size;  /* bytes per file; <= 0: unlimited, never rotated */
    int max_files;       /* files kept, the current one included (>= 1) */
    int torn;            /* the last record was cut short by a failed write: the next one starts with a newline */
};

/* Opens PATH for appending (created 0600 when missing). Returns 0, or -1 with errno. */
int nook_log_open(struct nook_log *log, const char *path, long long max_size, int max_files);
/*
 * Logs what the container wrote on STREAM (2 stderr; 1, or anything else, stdout)
 * as records. Returns 0, or -1 with errno when a record could not be
 * written (the rest are still tried; a failed open is retried next time).
 */
int nook_log_write(struct nook_log *log, int stream, const char *buf, size_t n);
void nook_log_close(struct nook_log *log);

#endif
