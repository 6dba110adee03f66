// SPDX-License-Identifier: GPL-2.0
/*
 * madv-free-write: does reclaim discard a device's write to a MADV_FREE page?
 * Runs in the oracle guest: run.sh --exec madv-free-write.c
 *
 * For each case, one page of private anonymous memory:
 *   1. the CPU writes A to every word (the page is allocated, its entry dirty);
 *   2. madvise(MADV_FREE) (the entry is made clean, the folio lazily freeable), except in
 *      case "device-no-free";
 *   3. a write of B: by the CPU, by the device (HMM_DMIRROR_WRITE), or none;
 *   4. HMM_DMIRROR_READ: what the device sees;
 *   5. madvise(MADV_PAGEOUT) (reclaim of the page now);
 *   6. the CPU reads the page.
 * A write after MADV_FREE cancels the free (a CPU write dirties the entry, and reclaim keeps a
 * dirty page: mm/rmap.c, try_to_unmap_one, "MADV_FREE page check"), so the CPU should read B;
 * "LOST" when it does not. Case "none": the CPU reads A or 0 (the free may discard).
 * Run: kernel-oracle/run.sh --exec docs/findings/madv-free-write.c --thp never --no-coherent -- ROUNDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/test_hmm_uapi.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint32_t))

static int dmirror(int fd, unsigned long req, void *addr, void *ptr)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .ptr = (uintptr_t)ptr, .npages = 1,
	};
	int ret = ioctl(fd, req, &cmd);

	return ret ? -errno : (int)cmd.cpages;
}

static int one(const char *how, int fd)
{
	uint32_t *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *bounce = malloc(PAGE);
	unsigned long i;
	int ret, rw, rr, rp;
	uint32_t dev, cpu;

	if (page == MAP_FAILED || !bounce)
		return perror("mmap"), 2;
	for (i = 0; i < WORDS; i++)
		page[i] = 0xa0000000u | i;
	if (strcmp(how, "device-no-free") && madvise(page, PAGE, MADV_FREE))
		return perror("MADV_FREE"), 2;
	rw = 0;
	if (!strcmp(how, "cpu")) {
		for (i = 0; i < WORDS; i++)
			page[i] = 0xb0000000u | i;
	} else if (!strncmp(how, "device", 6)) {
		for (i = 0; i < WORDS; i++)
			bounce[i] = 0xb0000000u | i;
		rw = dmirror(fd, HMM_DMIRROR_WRITE, page, bounce);
	}
	memset(bounce, 0, PAGE);
	rr = dmirror(fd, HMM_DMIRROR_READ, page, bounce);
	dev = bounce[7];
	rp = madvise(page, PAGE, MADV_PAGEOUT) ? -errno : 0;
	cpu = page[7];
	ret = strcmp(how, "none") ? cpu != (0xb0000000u | 7) : 0;
	printf("madv-free-write: write=%-14s write_ret=%d device_read=%d word7 device=0x%08x pageout=%d cpu_after_pageout=0x%08x %s\n",
	       how, rw, rr, dev, rp, cpu, ret ? "LOST" : "kept");
	munmap(page, PAGE);
	free(bounce);
	return ret;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	int fd = open("/dev/hmm_dmirror0", O_RDWR);
	int lost[4] = { 0 }, r, c;
	const char *cases[4] = { "none", "cpu", "device", "device-no-free" };
	cpu_set_t set;

	if (fd < 0)
		return perror("open"), 2;
	/* one CPU, so that lru_add_drain() in MADV_PAGEOUT drains this task's batches */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (r = 0; r < rounds; r++)
		for (c = 0; c < 4; c++)
			lost[c] += one(cases[c], fd);
	printf("madv-free-write: %d rounds; lost: cpu write after MADV_FREE %d, device write after MADV_FREE %d, device write without MADV_FREE %d\n",
	       rounds, lost[1], lost[2], lost[3]);
	return 0;
}
