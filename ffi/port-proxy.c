/*
 * The built-in port proxy, as rootlesskit's "builtin" port driver: for a
 * container with a loopback-only network namespace (no /dev/net/tun for
 * pasta or slirp4netns), the supervisor listens on the host's ports itself.
 * For each connection it asks a helper process for a TCP socket made inside
 * the container's network namespace (a socket keeps the namespace it was
 * made in), connects it to 127.0.0.1:CONTAINERPORT and copies bytes both
 * ways.
 *
 * Why a helper: joining the container's network namespace needs
 * CAP_SYS_ADMIN in its user namespace, which an unprivileged process has
 * only after joining that user namespace too (setns(CLONE_NEWUSER), allowed
 * to the namespace's owner, and only to a single-threaded process), and
 * there is no way back. So a forked child of the (single-threaded)
 * supervisor joins both namespaces once, and then only makes sockets and
 * passes them back with SCM_RIGHTS; everything else stays on the host side.
 * It dies with the supervisor (PR_SET_PDEATHSIG) or when its channel closes.
 */
#define _GNU_SOURCE
#include "port-proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 256
/* At most this many TCP connections and UDP flows at once (the poll set and the memory stay bounded: a flood is refused, not served slowly). */
#define MAX_CONNS 1000
#define MAX_FLOWS 1000
#define BUF_SIZE 65536

struct listener {
    int fd;
    int cport;
    int udp;
};

/*
 * A UDP "connection": datagrams from one client address go out of a
 * connected socket of their own inside the container, and its replies go
 * back to that address from the host port. Idle for UDP_IDLE_SECONDS, it is
 * dropped (rootlesskit and docker-proxy keep such flows the same way).
 */
#define UDP_IDLE_SECONDS 60
struct flow {
    struct listener *l;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int inner;
    time_t last;
    struct flow *next;
};

/* One direction of a connection: read from fds[i], written to fds[1 - i]. */
struct half {
    char *buf;
    size_t len, off;
    int eof, shut;
};

struct conn {
    int fds[2]; /* 0: the host's client, 1: the socket inside the container */
    int connecting;
    struct half h[2];
    struct conn *next;
};

static struct listener listeners[MAX_PORTS];
static int nlisteners;
static struct conn *conns;
static struct flow *flows;
static int nconns, nflows;
/* How many flows and connections the last nook_ports_pollfds() put in the poll set. */
static int polled_flows, polled_conns;
static int channel = -1; /* to the helper inside the namespace */
static int helper_pid = -1;

int nook_ports_bind(const char *spec, int *bound, int max, int *failed)
{
    char *copy = strdup(spec), *save = NULL;
    int i = 0;
    for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save), i++) {
        char proto[8] = "", ip[64] = "";
        int hport = 0, cport = 0;
        *failed = i;
        /* tcp,HOSTIP,HOSTPORT,CPORT with HOSTIP possibly empty */
        char *f1 = strchr(e, ','), *f2 = f1 ? strchr(f1 + 1, ',') : NULL, *f3 = f2 ? strchr(f2 + 1, ',') : NULL;
        if (!f3 || i >= max || i >= MAX_PORTS || (size_t)(f1 - e) >= sizeof proto || (size_t)(f2 - f1 - 1) >= sizeof ip) {
            free(copy);
            errno = EINVAL;
            return -1;
        }
        memcpy(proto, e, (size_t)(f1 - e));
        memcpy(ip, f1 + 1, (size_t)(f2 - f1 - 1));
        hport = atoi(f2 + 1);
        cport = atoi(f3 + 1);
        int udp = strcmp(proto, "udp") == 0;
        if (!udp && strcmp(proto, "tcp") != 0) {
            free(copy);
            errno = EPROTONOSUPPORT;
            return -1;
        }
        int type = udp ? SOCK_DGRAM : SOCK_STREAM;
        /* All addresses: IPv6's any address, dual-stack, so that IPv4 and IPv6 clients both get in (as
         * docker's two listeners do); IPv4's alone on a host without IPv6. */
        int any6 = !ip[0];
        int v6 = any6 || strchr(ip, ':') != NULL;
        int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 && any6 && errno == EAFNOSUPPORT) {
            v6 = any6 = 0;
            fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        }
        if (fd < 0) {
            free(copy);
            return -1;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (any6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_storage ss;
        socklen_t sl;
        memset(&ss, 0, sizeof ss);
        if (v6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons((uint16_t)hport);
            a->sin6_addr = in6addr_any;
            if (!any6 && inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
                errno = EINVAL, fd = -(close(fd) + 2);
            sl = sizeof *a;
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_family = AF_INET;
            a->sin_port = htons((uint16_t)hport);
            a->sin_addr.s_addr = htonl(INADDR_ANY);
            if (ip[0] && inet_pton(AF_INET, ip, &a->sin_addr) != 1)
                errno = EINVAL, fd = -(close(fd) + 2);
            sl = sizeof *a;
        }
        if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 || (!udp && listen(fd, 128) < 0)) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            free(copy);
            errno = err;
            return -1;
        }
        sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        bound[i] = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
        listeners[nlisteners++] = (struct listener){ fd, cport, udp };
    }
    free(copy);
    return i;
}

/* The helper: joins the container's user and network namespaces, then makes a socket per request. */
static void helper(int pid, int ch, int parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "nook-port-ns");
    if (getppid() != parent)
        _exit(0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    int user = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
    int net = open(path, O_RDONLY | O_CLOEXEC);
    int ok = user >= 0 && net >= 0 && setns(user, CLONE_NEWUSER) == 0 && setns(net, CLONE_NEWNET) == 0;
    int err = ok ? 0 : errno;
    /* Nothing of the supervisor's stays open here but the channel (it became fd 3). */
    if (ch != 3) {
        dup2(ch, 3);
        close(ch);
    }
    syscall(SYS_close_range, 4, ~0U, 0);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        if (fd != null)
            dup2(null, fd);
    if (null > 3)
        close(null);
    if (write(3, &err, sizeof err) != sizeof err || !ok)
        _exit(1);
    char req;
    while (read(3, &req, 1) == 1) {
        int s = socket(AF_INET, (req == 'u' ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        int e = s < 0 ? errno : 0;
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct iovec iov = { &e, sizeof e };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (s >= 0) {
            m.msg_control = cbuf;
            m.msg_controllen = sizeof cbuf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &s, sizeof s);
        }
        if (sendmsg(3, &m, MSG_NOSIGNAL) < 0)
            _exit(1);
        if (s >= 0)
            close(s);
    }
    _exit(0);
}

int nook_ports_active(void)
{
    return nlisteners > 0;
}

int nook_ports_start(int pid)
{
    if (!nlisteners)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    int parent = getpid();
    int child = fork();
    if (child < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (child == 0) {
        close(sv[0]);
        helper(pid, sv[1], parent);
    }
    close(sv[1]);
    channel = sv[0];
    helper_pid = child;
    int err = 0;
    if (read(channel, &err, sizeof err) != sizeof err)
        err = EPIPE;
    return -err;
}

/* A socket ('t': TCP, 'u': UDP) inside the container's network namespace, or -1. */
static int inner_socket(char req)
{
    if (channel < 0 || write(channel, &req, 1) != 1)
        return -1;
    int e = 0, fd = -1;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &e, sizeof e };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    if (recvmsg(channel, &m, MSG_CMSG_CLOEXEC) <= 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

static void accept_one(struct listener *l)
{
    int client = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0)
        return;
    if (nconns >= MAX_CONNS) {
        close(client);
        return;
    }
    int inner = inner_socket('t');
    struct conn *c = inner >= 0 ? calloc(1, sizeof *c) : NULL;
    char *bufs = c ? malloc(2 * BUF_SIZE) : NULL;
    if (!bufs) {
        close(client);
        if (inner >= 0)
            close(inner);
        free(c);
        return;
    }
    fcntl(inner, F_SETFL, O_NONBLOCK);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->cport), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int r = connect(inner, (struct sockaddr *)&to, sizeof to);
    if (r < 0 && errno != EINPROGRESS) {
        close(client);
        close(inner);
        free(bufs);
        free(c);
        return;
    }
    c->fds[0] = client;
    c->fds[1] = inner;
    c->connecting = r < 0;
    c->h[0].buf = bufs;
    c->h[1].buf = bufs + BUF_SIZE;
    c->next = conns;
    conns = c;
    nconns++;
}

static void conn_free(struct conn *c)
{
    close(c->fds[0]);
    close(c->fds[1]);
    free(c->h[0].buf);
    c->fds[0] = c->fds[1] = -1;
}

static struct flow *flow_for(struct listener *l, const struct sockaddr_storage *peer, socklen_t len)
{
    for (struct flow *f = flows; f; f = f->next)
        if (f->l == l && f->peer_len == len && memcmp(&f->peer, peer, len) == 0)
            return f;
    if (nflows >= MAX_FLOWS)
        return NULL;
    int inner = inner_socket('u');
    struct flow *f = inner >= 0 ? calloc(1, sizeof *f) : NULL;
    if (!f) {
        if (inner >= 0)
            close(inner);
        return NULL;
    }
    fcntl(inner, F_SETFL, O_NONBLOCK);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->cport), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(inner, (struct sockaddr *)&to, sizeof to) < 0) {
        close(inner);
        free(f);
        return NULL;
    }
    *f = (struct flow){ l, *peer, len, inner, 0, flows };
    flows = f;
    nflows++;
    return f;
}

/* Datagrams from clients → their flows' sockets inside the container. */
static void udp_in(struct listener *l)
{
    static char buf[65536];
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            return;
        struct flow *f = flow_for(l, &peer, len);
        if (!f)
            continue;
        f->last = time(NULL);
        if (send(f->inner, buf, (size_t)n, 0) < 0) {
            /* a full queue or no listener inside (ECONNREFUSED): dropped, as UDP may be */
        }
    }
}

/* Replies inside the container → the client, from the host port. */
static void udp_out(struct flow *f)
{
    static char buf[65536];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(f->inner, buf, sizeof buf, 0);
        if (n < 0)
            return;
        f->last = time(NULL);
        if (sendto(f->l->fd, buf, (size_t)n, 0, (struct sockaddr *)&f->peer, f->peer_len) < 0)
            return;
    }
}

int nook_ports_timeout(void)
{
    return flows ? 5000 : -1;
}

int nook_ports_pollfds(struct pollfd *fds, int max)
{
    int n = 0;
    for (int i = 0; i < nlisteners && n < max; i++)
        fds[n++] = (struct pollfd){ listeners[i].fd, POLLIN, 0 };
    polled_flows = polled_conns = 0;
    for (struct flow *f = flows; f && n < max; f = f->next, polled_flows++)
        fds[n++] = (struct pollfd){ f->inner, POLLIN, 0 };
    for (struct conn *c = conns; c && n + 2 <= max; c = c->next, polled_conns++) {
        if (c->connecting) {
            fds[n++] = (struct pollfd){ -1, 0, 0 };
            fds[n++] = (struct pollfd){ c->fds[1], POLLOUT, 0 };
            continue;
        }
        for (int i = 0; i < 2; i++) {
            short ev = 0;
            if (!c->h[i].len && !c->h[i].eof)
                ev |= POLLIN;
            if (c->h[1 - i].len)
                ev |= POLLOUT;
            /* Nothing to wait for on this side: leave it out, or its POLLHUP would spin the loop. */
            fds[n++] = (struct pollfd){ ev ? c->fds[i] : -1, ev, 0 };
        }
    }
    return n;
}

/* Writes what half h holds to fd; 0, or -1 when the connection is broken. */
static int flush(struct half *h, int fd)
{
    while (h->len) {
        ssize_t w = send(fd, h->buf + h->off, h->len, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        h->off += (size_t)w;
        h->len -= (size_t)w;
    }
    if (h->eof && !h->shut) {
        shutdown(fd, SHUT_WR);
        h->shut = 1;
    }
    return 0;
}

/* Reads one chunk from side i and passes it on; 0, or -1 when the connection is broken. */
static int pull(struct conn *c, int i)
{
    struct half *h = &c->h[i];
    ssize_t r = read(c->fds[i], h->buf, BUF_SIZE);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0)
        h->eof = 1;
    h->off = 0;
    h->len = (size_t)(r > 0 ? r : 0);
    return flush(h, c->fds[1 - i]);
}

void nook_ports_handle(const struct pollfd *fds, int n)
{
    int k = 0;
    for (int i = 0; i < nlisteners && k < n; i++, k++)
        if (fds[k].revents & POLLIN) {
            if (listeners[i].udp)
                udp_in(&listeners[i]);
            else
                accept_one(&listeners[i]);
        }
    /* New flows and connections were pushed at the head: they were not in this poll set, so skip them. */
    int count = 0;
    for (struct flow *f = flows; f; f = f->next)
        count++;
    struct flow *f = flows;
    for (int skip = count - polled_flows; skip > 0 && f; skip--)
        f = f->next;
    for (; f && k < n; f = f->next, k++)
        if (fds[k].revents & POLLIN)
            udp_out(f);
    time_t now = time(NULL);
    for (struct flow **p = &flows; *p;) {
        if (now - (*p)->last > UDP_IDLE_SECONDS) {
            struct flow *dead = *p;
            *p = dead->next;
            close(dead->inner);
            free(dead);
            nflows--;
        } else {
            p = &(*p)->next;
        }
    }
    count = 0;
    for (struct conn *c = conns; c; c = c->next)
        count++;
    struct conn *c = conns;
    for (int skip = count - polled_conns; skip > 0 && c; skip--)
        c = c->next;
    for (; c && k + 2 <= n; c = c->next, k += 2) {
        int broken = 0;
        if (c->connecting) {
            if (!fds[k + 1].revents)
                continue;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fds[1], SOL_SOCKET, SO_ERROR, &err, &len);
            if (err)
                broken = 1;
            else
                c->connecting = 0;
        } else {
            for (int i = 0; i < 2 && !broken; i++) {
                short re = fds[k + i].revents;
                if (!re)
                    continue;
                if ((re & POLLOUT) && flush(&c->h[1 - i], c->fds[i]) < 0)
                    broken = 1;
                else if ((re & (POLLIN | POLLHUP | POLLERR)) && !c->h[i].len && !c->h[i].eof && pull(c, i) < 0)
                    broken = 1;
            }
        }
        if (broken || (c->h[0].shut && c->h[1].shut))
            conn_free(c);
    }
    /* Drop the closed ones. */
    for (struct conn **p = &conns; *p;) {
        if ((*p)->fds[0] < 0) {
            struct conn *dead = *p;
            *p = dead->next;
            free(dead);
            nconns--;
        } else {
            p = &(*p)->next;
        }
    }
}

void nook_ports_close(void)
{
    while (flows) {
        struct flow *f = flows;
        flows = f->next;
        close(f->inner);
        free(f);
    }
    nflows = nconns = 0;
    for (int i = 0; i < nlisteners; i++)
        close(listeners[i].fd);
    nlisteners = 0;
    while (conns) {
        struct conn *c = conns;
        conns = c->next;
        if (c->fds[0] >= 0)
            conn_free(c);
        free(c);
    }
    if (channel >= 0)
        close(channel);
    channel = -1;
    /* The helper ends at its channel's EOF; reap it, or it would stay a zombie of the exit command. */
    if (helper_pid > 0)
        while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    helper_pid = -1;
}
