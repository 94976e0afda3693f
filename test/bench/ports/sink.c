/* The port benchmark's receiver: sink PORT accepts one connection, reads it to its end, and answers with the byte count. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0)
        return 1;
    static char buf[1 << 20];
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        long long total = 0;
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0)
            total += n;
        char line[32];
        int len = snprintf(line, sizeof line, "%lld\n", total);
        if (write(c, line, (size_t)len) < 0) {
            /* the client went away */
        }
        close(c);
    }
}
