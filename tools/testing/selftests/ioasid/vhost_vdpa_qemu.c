// SPDX-License-Identifier: GPL-2.0-only
/*
 * The legacy vhost-vdpa path under an unmodified VMM: Debian's own
 * qemu-system-x86_64 (packed into the test initramfs) starts a VM with
 * "-netdev vhost-vdpa" on a vdpa_sim_net device. QEMU maps the VM's
 * memory with VHOST_IOTLB messages, and the VM's firmware (SeaBIOS
 * running iPXE from the virtio-net option ROM) drives the NIC: the device
 * must come up with features negotiated and its link up.
 *
 * QEMU runs under TCG inside the TCG guest, so this takes a while.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "vdpa_utils.h"

#define QEMU		"/usr/bin/qemu-system-x86_64"
#define QEMU_LOG	"/tmp/vhost_vdpa_qemu.log"
#define UP_TIMEOUT_S	300

static const __u8 mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x88 };

/* Start QEMU on @vhost; its output goes to QEMU_LOG */
static pid_t qemu_start(const char *vhost)
{
	char netdev[96], device[128];
	pid_t pid;
	int fd;

	snprintf(netdev, sizeof(netdev), "vhost-vdpa,vhostdev=%s,id=vdpa0",
		 vhost);
	snprintf(device, sizeof(device),
		 "virtio-net-pci,netdev=vdpa0,disable-legacy=on,bootindex=1,mac=%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	pid = fork();
	if (pid)
		return pid;
	fd = open(QEMU_LOG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl(QEMU, QEMU, "-L", "/usr/share/qemu", "-M", "q35",
	      "-accel", "tcg", "-m", "128", "-smp", "1", "-nodefaults",
	      "-no-user-config", "-display", "none", "-monitor", "none",
	      "-serial", "none", "-netdev", netdev, "-device", device,
	      (char *)NULL);
	_exit(127);
}

static void qemu_log_dump(void)
{
	char line[256];
	FILE *f = fopen(QEMU_LOG, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# qemu: %s", line);
	fclose(f);
}

FIXTURE(qemu_vdpa) {
	const char *skip;
	struct vdpa_nl nl;
	char name[32];
	bool created;
	pid_t qemu;
};

FIXTURE_SETUP(qemu_vdpa)
{
	int ret;

	self->nl.fd = -1;
	if (access(QEMU, X_OK)) {
		self->skip = "no " QEMU " in this initramfs";
		return;
	}
	if (vdpa_nl_open(&self->nl)) {
		self->skip = "no vdpa generic netlink family: CONFIG_VDPA?";
		return;
	}
	snprintf(self->name, sizeof(self->name), "vq%d", getpid());
	ret = vdpa_nl_dev_new(&self->nl, VDPA_MGMTDEV_NET, self->name, mac);
	if (ret == -ENODEV) {
		self->skip = "no vdpa management device " VDPA_MGMTDEV_NET;
		return;
	}
	ASSERT_EQ(0, ret);
	self->created = true;
}

FIXTURE_TEARDOWN(qemu_vdpa)
{
	if (self->qemu > 0) {
		kill(self->qemu, SIGKILL);
		waitpid(self->qemu, NULL, 0);
	}
	if (self->created)
		vdpa_nl_dev_del(&self->nl, self->name);
	vdpa_nl_close(&self->nl);
}

/*
 * Wait until the VM's driver has negotiated features (QEMU started its
 * vhost-vdpa backend: VHOST_SET_FEATURES, memory mapped, DRIVER_OK)
 * with the link up.
 */
TEST_F_TIMEOUT(qemu_vdpa, netdev_vhost_vdpa_link_up, UP_TIMEOUT_S + 60)
{
	char path[64];
	__u64 features = 0;
	__u8 status = 0;
	int secs, ret = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, vdpa_vhost_path(self->name, path, sizeof(path)));
	self->qemu = qemu_start(path);
	ASSERT_LT(0, self->qemu);

	for (secs = 0; secs < UP_TIMEOUT_S; secs++) {
		if (waitpid(self->qemu, &ret, WNOHANG) == self->qemu) {
			self->qemu = 0;
			qemu_log_dump();
			ASSERT_TRUE(false) TH_LOG("QEMU exited: %#x", ret);
		}
		ret = vdpa_nl_dev_config(&self->nl, self->name, &features,
					 &status);
		if (!ret && features && (status & VIRTIO_NET_S_LINK_UP))
			break;
		sleep(1);
	}
	if (secs == UP_TIMEOUT_S)
		qemu_log_dump();
	ASSERT_GT(UP_TIMEOUT_S, secs)
		TH_LOG("not up after %d s: config %d, features %#llx, status %#x",
		       secs, ret, (unsigned long long)features, status);
	ASSERT_TRUE(!!(features & (1ULL << VIRTIO_F_VERSION_1)));
	TH_LOG("QEMU's VM brought %s up in %d s: features %#llx, status %#x",
	       self->name, secs, (unsigned long long)features, status);
}

TEST_HARNESS_MAIN
