/*
 * Installs a seccomp filter and tries system calls under it, for the seccomp
 * unit tests (test/unit/seccomp-kernel.test.ts compiles it with cc).
 *
 *   seccomp-run FILTER.bin CMD...
 *
 * FILTER.bin is a struct sock_filter[] as nook compiles it. The kernel checks
 * the program when it is loaded, so "load=0" proves the bytes are a valid
 * filter. Then each CMD runs and prints "CMD=ERRNO" (0: it succeeded):
 *
 *   mkdir PATH | mkdirat PATH | getpid | keyctl | unshare-user | clone-newuser |
 *   socket FAMILY | personality PERSONA | x32-getpid | int80-getpid |
 *   exec PATH [ARG...]   (execv; only returns, and prints, on failure)
 *
 * x32-getpid and int80-getpid exist on x86_64 only. A filter that kills shows
 * up as death by SIGSYS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long rc) {
  char line[128];
  int n = snprintf(line, sizeof line, "%s=%d\n", what, rc < 0 ? errno : 0);
  if (write(1, line, (size_t)n) < 0) _exit(3);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: seccomp-run FILTER.bin CMD...\n");
    return 2;
  }
  static unsigned char buf[4096 * 8 + 8];
  /* FILTER "-": no filter, to see what the kernel itself does with a call. */
  FILE *f = strcmp(argv[1], "-") ? fopen(argv[1], "rb") : NULL;
  if (!f && !strcmp(argv[1], "-")) goto run;
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  struct sock_fprog prog = {.len = (unsigned short)(len / 8), .filter = (struct sock_filter *)buf};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("prctl");
    return 2;
  }
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
  report("load", rc);
  if (rc != 0) return 1;

run:
  for (int i = 2; i < argc; i++) {
    const char *cmd = argv[i];
    errno = 0;
    if (!strcmp(cmd, "mkdirat") && i + 1 < argc) {
      report(cmd, syscall(SYS_mkdirat, AT_FDCWD, argv[++i], 0755));
    } else if (!strcmp(cmd, "mkdir") && i + 1 < argc) {
#ifdef SYS_mkdir
      report(cmd, syscall(SYS_mkdir, argv[++i], 0755));
#else
      report(cmd, syscall(SYS_mkdirat, AT_FDCWD, argv[++i], 0755));
#endif
    } else if (!strcmp(cmd, "getpid")) {
      report(cmd, syscall(SYS_getpid));
    } else if (!strcmp(cmd, "keyctl")) {
      report(cmd, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0));
    } else if (!strcmp(cmd, "unshare-user")) {
      report(cmd, syscall(SYS_unshare, CLONE_NEWUSER));
    } else if (!strcmp(cmd, "clone-newuser")) {
      /* Raw clone without a new stack behaves like fork. */
      long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
      if (pid == 0) _exit(0);
      if (pid > 0) waitpid((pid_t)pid, NULL, 0);
      report(cmd, pid);
    } else if (!strcmp(cmd, "socket") && i + 1 < argc) {
      long fd = syscall(SYS_socket, atoi(argv[++i]), SOCK_STREAM, 0);
      report(cmd, fd);
      if (fd >= 0) close((int)fd);
    } else if (!strcmp(cmd, "personality") && i + 1 < argc) {
      report(cmd, syscall(SYS_personality, strtoul(argv[++i], NULL, 0)));
#if defined(__x86_64__)
    } else if (!strcmp(cmd, "x32-getpid")) {
      report(cmd, syscall(0x40000000 | SYS_getpid));
    } else if (!strcmp(cmd, "int80-getpid")) {
      long ret;
      __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20 /* i386 getpid */) : "memory");
      if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        ret = -1;
      }
      report(cmd, ret);
#endif
    } else if (!strcmp(cmd, "exec") && i + 1 < argc) {
      execv(argv[i + 1], &argv[i + 1]);
      report(cmd, -1);
      return 1;
    } else {
      fprintf(stderr, "unknown command %s\n", cmd);
      return 2;
    }
  }
  return 0;
}
