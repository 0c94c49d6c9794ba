// The process the cgroup tests put in a cgroup: joins the cgroup whose cgroup.procs is argv[1],
// then opens a UDP socket bound to 127.0.0.1, connects a second UDP socket to it, sends N datagrams
// (N from argv[2]) and receives them; prints the receiver's port. Exits non-zero on any failure.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	FILE *procs;
	int n, rx, tx;
	char buf[32];

	if (argc < 3)
		return 2;
	n = atoi(argv[2]);
	procs = fopen(argv[1], "w");
	if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0)
		return 3;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0)
		return 4;
	if (bind(rx, (struct sockaddr *)&addr, sizeof(addr)) || getsockname(rx, (struct sockaddr *)&addr, &len))
		return 5;
	if (connect(tx, (struct sockaddr *)&addr, sizeof(addr)))
		return 6;
	for (int i = 0; i < n; i++)
		if (send(tx, "ping", 4, 0) != 4)
			return 7;
	for (int i = 0; i < n; i++)
		if (recv(rx, buf, sizeof(buf), 0) != 4)
			return 8;
	printf("%d\n", ntohs(addr.sin_port));
	return 0;
}
