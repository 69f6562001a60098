/*
 * bindlo: LD_PRELOAD shim that keeps the testbed servers on loopback.
 *
 * XRootD and cmsd have no listen-address directive and bind the wildcard
 * address. This shim rewrites bind() to a wildcard address into a bind to
 * loopback: 0.0.0.0 -> 127.0.0.1; :: -> ::ffff:127.0.0.1 for dual-stack
 * sockets (so IPv4 clients of 127.0.0.1 still reach it) or ::1 for
 * IPv6-only sockets. Every other bind() is passed through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static bind_fn real_bind;
	if (!real_bind)
		real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
	if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in4;
		memcpy(&in4, addr, sizeof in4);
		if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
			in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
		}
	} else if (addr && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, addr, sizeof in6);
		if (memcmp(&in6.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0) {
			int v6only = 0;
			socklen_t sl = sizeof v6only;
			if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &sl) != 0)
				v6only = 0;
			if (v6only) {
				in6.sin6_addr = in6addr_loopback;
			} else {
				memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
				in6.sin6_addr.s6_addr[10] = 0xff;
				in6.sin6_addr.s6_addr[11] = 0xff;
				in6.sin6_addr.s6_addr[12] = 127;
				in6.sin6_addr.s6_addr[15] = 1;
			}
			return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
		}
	}
	return real_bind(fd, addr, len);
}
