// The TCP connection the struct_ops tests run over loopback: a listener on 127.0.0.1, a client
// socket that selects congestion control argv[1] with setsockopt(TCP_CONGESTION) before it
// connects, then sends argv[2] bytes (a counting pattern) that a forked receiver reads and checks.
// Prints "cc=NAME sent=N received=N" (the client's TCP_CONGESTION as getsockopt reads it back);
// exits 0 when every byte arrived intact, 10 when the kernel refused the congestion control
// (printing "setsockopt=ERRNO", the number), other codes on other failures.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char pattern(long i)
{
	return (unsigned char)(i * 7 + 3);
}

/* Reads everything until EOF and checks the pattern; exits with the result. */
static int receive(int conn, long want)
{
	unsigned char buf[65536];
	long got = 0;
	ssize_t n;

	while ((n = read(conn, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + i))
				return 20;
		got += n;
	}
	if (n < 0)
		return 21;
	/* The received count goes back to the sender as 8 bytes. */
	if (write(conn, &got, sizeof(got)) != sizeof(got))
		return 22;
	return got == want ? 0 : 23;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	char cc[32] = { 0 };
	socklen_t cclen = sizeof(cc) - 1;
	unsigned char buf[65536];
	long total, sent = 0, received = -1;
	int lsock, csock, status;
	pid_t child;

	if (argc < 3)
		return 2;
	total = atol(argv[2]);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsock = socket(AF_INET, SOCK_STREAM, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) || listen(lsock, 1) ||
	    getsockname(lsock, (struct sockaddr *)&addr, &len))
		return 3;
	csock = socket(AF_INET, SOCK_STREAM, 0);
	if (csock < 0)
		return 4;
	if (setsockopt(csock, IPPROTO_TCP, TCP_CONGESTION, argv[1], strlen(argv[1]))) {
		printf("setsockopt=%d\n", errno);
		return 10;
	}
	child = fork();
	if (child < 0)
		return 5;
	if (child == 0) {
		int conn = accept(lsock, NULL, NULL);

		close(csock);
		_exit(conn < 0 ? 24 : receive(conn, total));
	}
	close(lsock);
	if (connect(csock, (struct sockaddr *)&addr, sizeof(addr)))
		return 6;
	while (sent < total) {
		long chunk = total - sent < (long)sizeof(buf) ? total - sent : (long)sizeof(buf);
		ssize_t n;

		for (long i = 0; i < chunk; i++)
			buf[i] = pattern(sent + i);
		n = write(csock, buf, chunk);
		if (n <= 0)
			return 7;
		sent += n;
	}
	if (getsockopt(csock, IPPROTO_TCP, TCP_CONGESTION, cc, &cclen))
		return 8;
	shutdown(csock, SHUT_WR);
	if (read(csock, &received, sizeof(received)) != sizeof(received))
		return 9;
	close(csock);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return 11;
	printf("cc=%s sent=%ld received=%ld\n", cc, sent, received);
	return WEXITSTATUS(status) == 0 ? 0 : 12;
}
