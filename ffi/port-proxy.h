/*
 * nook's built-in port proxy (ffi/port-proxy.c), for a container whose
 * network namespace has only loopback: the supervisor listens on the host,
 * and each connection is copied to a socket made inside the container's
 * network namespace. See port-proxy.c.
 */
#ifndef NOOK_PORT_PROXY_H
#define NOOK_PORT_PROXY_H
#include <poll.h>

/*
 * Binds and listens on every port of SPEC ("PROTO,HOSTIP,HOSTPORT,CPORT;...",
 * PROTO tcp or udp,
 * HOSTIP empty for all addresses, HOSTPORT 0 for a free one). Returns -1 and
 * sets *failed to the failing entry's index (errno set) when one cannot be
 * bound; on success, bound[i] is entry i's host port.
 */
int nook_ports_bind(const char *spec, int *bound, int max, int *failed);
/* Whether any port is published (and served). */
int nook_ports_active(void);
/* Starts the helper that makes sockets inside PID's network namespace. 0 or -errno. */
int nook_ports_start(int pid);
/* Appends the proxy's descriptors to poll for; returns how many it added (at most max). */
int nook_ports_pollfds(struct pollfd *fds, int max);
/* poll()'s timeout in ms: -1, or a few seconds while UDP flows may expire. */
int nook_ports_timeout(void);
/* Handles what poll() reported on the descriptors nook_ports_pollfds() added. */
void nook_ports_handle(const struct pollfd *fds, int n);
/* Stops listening and closes every connection (the ports are free again). */
void nook_ports_close(void);
#endif
