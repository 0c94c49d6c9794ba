// The process the cgroup hook tests (testdata/cgroup_hooks.c) put in a cgroup: joins the cgroup
// whose cgroup.procs is argv[1], then N times (argv[2]) each: makes a TCP connection over loopback
// (both ends in the cgroup), reads kernel/domainname, opens /dev/null. Then once: writes
// kernel/domainname back unchanged (the hook refuses), sets IP_TOS 0x08 on a UDP socket and reads
// it back (the hook rewrites it), opens /dev/zero (the hook refuses). Prints
// "tos=T write_errno=E zero_errno=E"; exits non-zero on an unexpected failure.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DOMAINNAME "/proc/sys/kernel/domainname"

static int tcp_connection(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int l, c, a;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&addr, &len))
		return -1;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)))
		return -1;
	a = accept(l, NULL, NULL);
	if (a < 0)
		return -1;
	close(a);
	close(c);
	close(l);
	return 0;
}

int main(int argc, char **argv)
{
	char name[128];
	FILE *procs;
	int n, fd, sock, tos = 0x08, write_errno = 0, zero_errno = 0;
	socklen_t toslen = sizeof(tos);
	ssize_t namelen = 0;

	if (argc < 3)
		return 2;
	n = atoi(argv[2]);
	if (n < 1)
		return 2;
	procs = fopen(argv[1], "w");
	if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0)
		return 3;
	fd = open(DOMAINNAME, O_RDONLY);
	if (fd < 0)
		return 4;
	for (int i = 0; i < n; i++) {
		int null_fd;

		if (tcp_connection())
			return 5;
		namelen = pread(fd, name, sizeof(name), 0);
		if (namelen <= 0)
			return 6;
		null_fd = open("/dev/null", O_RDWR);
		if (null_fd < 0)
			return 7;
		close(null_fd);
	}
	close(fd);
	/* The same value back: harmless even where no hook refuses it. */
	fd = open(DOMAINNAME, O_WRONLY);
	if (fd < 0)
		return 8;
	if (write(fd, name, namelen) < 0)
		write_errno = errno;
	close(fd);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0 || setsockopt(sock, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) ||
	    getsockopt(sock, IPPROTO_IP, IP_TOS, &tos, &toslen))
		return 9;
	close(sock);
	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		zero_errno = errno;
	else
		close(fd);
	printf("tos=%d write_errno=%d zero_errno=%d\n", tos, write_errno, zero_errno);
	return 0;
}
