/*
 * nook-init: PID 1 of a container run with --init, as tini is for docker.
 *
 * Why a program of its own: the executor's process is a copy of nook (or of
 * nook-supervisor), its memory and environment included (tokens in the
 * user's environment, registry credentials). Staying in it as PID 1 would
 * show all that to the container through /proc/1/environ, /proc/1/mem and
 * ptrace. So the executor forks the command, then execs this program from a
 * sealed memfd (nothing in the container can change it) with the container's
 * environment only; see run_init() in executor.c.
 *
 * It is entered with every signal blocked (the mask survives execve, and so
 * does a SIGCHLD that is already pending), as
 *     nook-init CHILD_PID        fd 3: the write end of the command's gate
 * and then: names itself, installs no-op handlers (so the signals show as
 * caught in /proc/1/status, which nook's relay reads: the kernel drops a
 * signal that PID 1 does not handle), lets the command go on (one byte on
 * fd 3), and from then on takes signals with sigtimedwait(): every one goes
 * to the command, every exited child is reaped, and when the command ends
 * init exits with its status (128 + the signal when it was killed).
 *
 * No libc: -nostdlib -static, a few raw system calls, so it stays a few KB
 * (its bytes travel in every --init plan) and maps nothing but itself.
 */
#include <stddef.h>
#include <asm/unistd.h>

#define SIGKILL 9
#define SIGCHLD 17
#define SIGSTOP 19
#define NSIG 64
#define SA_RESTORER 0x04000000UL
#define WNOHANG 1
#define PR_SET_PDEATHSIG 1
#define PR_SET_DUMPABLE 4
#define PR_SET_NAME 15
#define GATE_FD 3

#if defined(__x86_64__)
static long sys(long n, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call init_main\n  hlt\n"
        /* Handlers never run (every signal stays blocked), but x86_64 wants a way back from one. */
        ".global init_restorer\ninit_restorer:\n  mov $15, %rax\n  syscall\n");
void init_restorer(void);
#define RESTORER ((unsigned long)init_restorer)
#define RESTORER_FLAG SA_RESTORER
#elif defined(__aarch64__)
static long sys(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  bl init_main\n  brk #0\n");
#define RESTORER 0UL /* the kernel's vDSO trampoline */
#define RESTORER_FLAG 0UL
#else
#error "nook-init: x86_64 and aarch64 only"
#endif

/* The kernel's struct sigaction (not glibc's). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    unsigned long restorer;
    unsigned long mask;
};

static void ignore(int sig) { (void)sig; }

static __attribute__((noreturn)) void leave(int code)
{
    for (;;)
        sys(__NR_exit_group, code, 0, 0, 0);
}

__attribute__((noreturn, used)) void init_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    long child = 0;
    for (const char *p = argc > 1 ? argv[1] : ""; *p >= '0' && *p <= '9'; p++)
        child = child * 10 + (*p - '0');
    if (child <= 0)
        leave(125);

    sys(__NR_prctl, PR_SET_NAME, (long)"nook-init", 0, 0);
    /* exec reset what the executor had set: it kills the container if nook dies first. */
    sys(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0);
    /* nook exec opens the files under /proc/1/ns; nothing in this process is secret. */
    sys(__NR_prctl, PR_SET_DUMPABLE, 1, 0, 0);
    struct ksigaction sa = { ignore, RESTORER_FLAG, RESTORER, 0 };
    for (int sig = 1; sig <= NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sys(__NR_rt_sigaction, sig, (long)&sa, 0, 8); /* fails harmlessly for none */
    char go = 'g';
    sys(__NR_write, GATE_FD, (long)&go, 1, 0);
    sys(__NR_close, GATE_FD, 0, 0, 0);

    unsigned long all = ~0UL;
    long info[16]; /* siginfo_t: 128 bytes */
    for (;;) {
        long sig = sys(__NR_rt_sigtimedwait, (long)&all, (long)info, 0, 8);
        if (sig <= 0)
            continue;
        if (sig != SIGCHLD) {
            sys(__NR_kill, child, sig, 0, 0);
            continue;
        }
        int st;
        long p;
        while ((p = sys(__NR_wait4, -1, (long)&st, WNOHANG, 0)) > 0)
            if (p == child)
                leave((st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f));
    }
}
