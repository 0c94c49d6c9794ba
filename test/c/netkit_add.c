// Creates a netkit pair (Linux 6.7) with one RTM_NEWLINK over rtnetlink: `netkit_add PRIMARY PEER`
// in the caller's namespace, L3 mode, default policies. Debian 12's iproute2 (6.1) cannot make
// netkit devices, so the netkit test builds this. IFLA_NETKIT_PEER_INFO is 1 in uapi if_link.h,
// which Debian 12's kernel headers predate.
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IFLA_NETKIT_PEER_INFO 1

struct req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[512];
};

static struct rtattr *put(struct nlmsghdr *nh, int type, const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (char *)nh + nh->nlmsg_len - (char *)nest;
}

int main(int argc, char **argv)
{
	struct req r = { 0 };
	struct rtattr *info, *data, *peer;
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
	char buf[4096];
	int fd, n;

	if (argc != 3) {
		fprintf(stderr, "usage: netkit_add PRIMARY PEER\n");
		return 2;
	}
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.nh.nlmsg_type = RTM_NEWLINK;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	r.ifi.ifi_family = AF_UNSPEC;
	put(&r.nh, IFLA_IFNAME, argv[1], strlen(argv[1]) + 1);
	info = put(&r.nh, IFLA_LINKINFO, NULL, 0);
	put(&r.nh, IFLA_INFO_KIND, "netkit", 7);
	data = put(&r.nh, IFLA_INFO_DATA, NULL, 0);
	/* The peer: a struct ifinfomsg, then its own attributes. */
	peer = put(&r.nh, IFLA_NETKIT_PEER_INFO, &peer_ifi, sizeof(peer_ifi));
	put(&r.nh, IFLA_IFNAME, argv[2], strlen(argv[2]) + 1);
	end(&r.nh, peer);
	end(&r.nh, data);
	end(&r.nh, info);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || send(fd, &r, r.nh.nlmsg_len, 0) < 0) {
		perror("netlink");
		return 1;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < (int)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		perror("netlink reply");
		return 1;
	}
	struct nlmsgerr *e = NLMSG_DATA((struct nlmsghdr *)buf);
	if (e->error) {
		fprintf(stderr, "RTM_NEWLINK netkit: %s\n", strerror(-e->error));
		return 1;
	}
	close(fd);
	return 0;
}
