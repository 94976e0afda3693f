/*
 * What a container must not be able to do to the terminal it was given:
 * type into it (TIOCSTI, keystrokes the user's shell would run after nook
 * exits) and take its foreground (tcsetpgrp). Tries both on fds 0, 1 and 2
 * and prints one line per fd: "fdN sti=RESULT fg=RESULT", RESULT being "ok"
 * or the errno's name. argv[1] is the text to type (default below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *result(int err) { return err ? strerrorname_np(err) : "ok"; }

int main(int argc, char **argv)
{
    const char *text = argc > 1 ? argv[1] : "echo nook-injected\n";
    /* From a background group, tcsetpgrp() would stop us with SIGTTOU; ignored, it just works. */
    signal(SIGTTOU, SIG_IGN);
    char line[3][64];
    for (int fd = 0; fd < 3; fd++) {
        int sti = 0, fg = 0;
        for (const char *p = text; *p && !sti; p++)
            if (ioctl(fd, TIOCSTI, p) < 0)
                sti = errno;
        if (tcsetpgrp(fd, getpgrp()) < 0)
            fg = errno;
        snprintf(line[fd], sizeof line[fd], "fd%d sti=%s fg=%s\n", fd, result(sti), result(fg));
    }
    /* Printed at the end: fd 1 may be the terminal whose foreground we just tried to take. */
    for (int fd = 0; fd < 3; fd++)
        fputs(line[fd], stdout);
    return 0;
}
