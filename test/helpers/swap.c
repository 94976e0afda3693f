/*
 * swap A B SECONDS: exchanges the paths A and B with renameat2(RENAME_EXCHANGE)
 * as fast as it can for SECONDS, then prints how many swaps it made. What a
 * container on a shared --rootfs can do to a directory that another run's
 * mount target goes through (a directory and a symlink to a host path).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: swap A B SECONDS\n");
        return 2;
    }
    time_t end = time(NULL) + atoi(argv[3]);
    long n = 0;
    while (time(NULL) < end)
        for (int i = 0; i < 1000; i++)
            if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */) == 0)
                n++;
    printf("%ld\n", n);
    return 0;
}
