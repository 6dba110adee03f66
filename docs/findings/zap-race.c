// SPDX-License-Identifier: GPL-2.0
/*
 * zap-race: does lib/test_hmm.c keep a device entry for a page that MADV_DONTNEED zapped
 * while HMM_DMIRROR_MIGRATE_TO_DEV (-m migrate) or HMM_DMIRROR_EXCLUSIVE (-m exclusive)
 * of the same pages was in flight? Both ioctls hold the mmap lock for reading only, and so
 * does MADV_DONTNEED, whose zap needs no page lock.
 *
 * Build and run in the kernel oracle's guest:
 *   run.sh --exec docs/findings/zap-race.c --thp never --no-coherent -- -m migrate -t 300
 *
 * One round (thread A = main, thread B = zapper):
 *   A: mmap N private anonymous pages and fill each from the CPU with a nonzero value.
 *   --- barrier ---
 *   A: the ioctl (MIGRATE_TO_DEV or EXCLUSIVE) of the N pages.
 *   B: busy-waits a delay that sweeps over the measured length of that ioctl, then
 *      madvise(MADV_DONTNEED) of the N pages.
 *   --- barrier ---
 *   A: HMM_DMIRROR_READ of the N pages (the device's view; it faults only where the
 *      mirror has no entry), then a CPU read of each page.
 *
 * Whatever the order, the zap leaves the CPU with zero-filled memory: a zap before the
 * ioctl makes it migrate or take fresh zero pages, a zap after it drops the device pages
 * or the exclusive entries. A correct mirror therefore reads zero everywhere. A page
 * whose device read is nonzero while the CPU reads zero is a stale device entry: the
 * mirror points at a page the CPU no longer maps (after -m migrate, a device page that
 * migrate_vma_finalize() freed, with its backing page).
 *
 * Options: -m migrate|exclusive (default migrate)  -t SECS (120)  -r MAXROUNDS
 *          -n NPAGES (64)  -d /dev/hmm_dmirror0  -v (print every round with a stale page)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/test_hmm_uapi.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint32_t))
#define MAXPAGES 64

static int npages = 64, exclusive_mode, verbose;
static double tlimit = 120;
static long maxrounds = -1;
static const char *devpath = "/dev/hmm_dmirror0";

static pthread_barrier_t bar;
static char *buf;
static atomic_int stop_all;
static uint64_t delay_ns;
static int zap_ret;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int dcmd(int fd, unsigned long req, void *addr, void *ptr, unsigned long n)
{
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)addr, .ptr = (uintptr_t)ptr, .npages = n };
	int ret;

	do
		ret = ioctl(fd, req, &cmd);
	while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

/* Nonzero if any word of the page is nonzero. */
static int nonzero(const volatile uint32_t *w)
{
	for (unsigned long i = 0; i < WORDS; i++)
		if (w[i])
			return 1;
	return 0;
}

static void *zapper(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&bar);
		if (atomic_load(&stop_all))
			return NULL;
		uint64_t t0 = now_ns();

		while (now_ns() - t0 < delay_ns)
			;
		zap_ret = madvise(buf, npages * PAGE, MADV_DONTNEED) ? -errno : 0;
		pthread_barrier_wait(&bar);
	}
}

int main(int argc, char **argv)
{
	static uint32_t out[MAXPAGES * WORDS], dev[MAXPAGES * WORDS];
	long rounds = 0, stale = 0, rounds_stale = 0, ioctl_ok = 0, zap_err = 0, devread_err = 0;
	long cpu_nonzero = 0, setup_err = 0;
	long errs[4] = { 0 };	/* ioctl: -ENOENT, -EBUSY, other errors */
	uint64_t t_begin, ioctl_ns_est = 0;
	unsigned long req;
	pthread_t tb;
	int opt, fd;

	while ((opt = getopt(argc, argv, "m:t:r:n:d:v")) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "exclusive"))
				exclusive_mode = 1;
			else if (strcmp(optarg, "migrate")) {
				fprintf(stderr, "zap-race: -m takes migrate or exclusive, not %s\n", optarg);
				return 2;
			}
			break;
		case 't': tlimit = atof(optarg); break;
		case 'r': maxrounds = atol(optarg); break;
		case 'n': npages = atoi(optarg); break;
		case 'd': devpath = optarg; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: zap-race [-m migrate|exclusive] [-t secs] [-r rounds] [-n npages] [-d dev] [-v]\n");
			return 2;
		}
	}
	if (npages < 1 || npages > MAXPAGES) {
		fprintf(stderr, "zap-race: -n must be 1 to %d\n", MAXPAGES);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	req = exclusive_mode ? HMM_DMIRROR_EXCLUSIVE : HMM_DMIRROR_MIGRATE_TO_DEV;

	fd = open(devpath, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror(devpath);
		return 1;
	}
	printf("ZAP-RACE: dev=%s mode=%s npages=%d tlimit=%.0fs\n", devpath,
	       exclusive_mode ? "exclusive" : "migrate", npages, tlimit);

	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&tb, NULL, zapper, NULL);
	t_begin = now_ns();

	while ((maxrounds < 0 || rounds < maxrounds) &&
	       (now_ns() - t_begin) / 1e9 < tlimit) {
		int round_stale = 0, ret;

		buf = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED) {
			setup_err++;
			break;
		}
		for (int p = 0; p < npages; p++)
			for (unsigned long i = 0; i < WORDS; i++)
				((uint32_t *)(buf + p * PAGE))[i] = 0x5a000000u | (uint32_t)(rounds & 0xffff) << 8 | p;

		/* The zap lands anywhere from before the ioctl to its end, in 16 steps. */
		delay_ns = ioctl_ns_est * (rounds % 17) / 16;
		pthread_barrier_wait(&bar);
		uint64_t t0 = now_ns();

		ret = dcmd(fd, req, buf, out, npages);
		uint64_t dt = now_ns() - t0;

		pthread_barrier_wait(&bar);
		ioctl_ns_est = ioctl_ns_est ? (ioctl_ns_est * 7 + dt) / 8 : dt;
		if (ret == 0)
			ioctl_ok++;
		else
			errs[ret == -ENOENT ? 0 : ret == -EBUSY ? 1 : 2]++;
		if (zap_ret)
			zap_err++;

		if (dcmd(fd, HMM_DMIRROR_READ, buf, dev, npages)) {
			devread_err++;
		} else {
			for (int p = 0; p < npages; p++) {
				int d = nonzero(dev + p * WORDS);
				int c = nonzero((uint32_t *)(buf + p * PAGE));

				if (c)
					cpu_nonzero++;
				if (d && !c) {
					stale++;
					round_stale++;
				}
			}
		}
		if (round_stale) {
			rounds_stale++;
			if (verbose)
				printf("round %ld: %d stale page(s), ioctl %d, delay %llu us of %llu\n",
				       rounds, round_stale, ret, (unsigned long long)delay_ns / 1000,
				       (unsigned long long)ioctl_ns_est / 1000);
		}
		munmap(buf, npages * PAGE);
		rounds++;
		if (rounds % 500 == 0)
			printf("progress: %ld rounds, %ld stale pages in %ld rounds, %.0f s, ioctl ~%llu us\n",
			       rounds, stale, rounds_stale, (now_ns() - t_begin) / 1e9,
			       (unsigned long long)ioctl_ns_est / 1000);
	}
	atomic_store(&stop_all, 1);
	pthread_barrier_wait(&bar);
	pthread_join(tb, NULL);

	printf("ZAP-RACE-RESULT mode=%s rounds=%ld seconds=%.1f stale=%ld rounds_with_stale=%ld "
	       "ioctl_ok=%ld ioctl_enoent=%ld ioctl_ebusy=%ld ioctl_other_err=%ld "
	       "cpu_nonzero=%ld devread_err=%ld zap_err=%ld setup_err=%ld ioctl_us=%llu\n",
	       exclusive_mode ? "exclusive" : "migrate", rounds, (now_ns() - t_begin) / 1e9,
	       stale, rounds_stale, ioctl_ok, errs[0], errs[1], errs[2], cpu_nonzero,
	       devread_err, zap_err, setup_err, (unsigned long long)ioctl_ns_est / 1000);
	return 0;
}
