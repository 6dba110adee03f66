// SPDX-License-Identifier: GPL-2.0
/*
 * exclusive-again: can lib/test_hmm.c take a page for exclusive access again while it is
 * still device-exclusive from its own earlier HMM_DMIRROR_EXCLUSIVE?
 *
 * Build and run in the kernel oracle's guest:
 *   run.sh --exec docs/findings/exclusive-again.c --thp never --no-coherent -- 20
 *
 * One round: mmap N private anonymous pages (N = 1, then 64), write each from the CPU,
 * HMM_DMIRROR_EXCLUSIVE of them (the pages become device-exclusive entries), then
 * HMM_DMIRROR_EXCLUSIVE of the same pages again, with nothing else running; then a CPU read of
 * each page (which restores the entries) and HMM_DMIRROR_EXCLUSIVE once more. Each result is
 * counted. On 6.1 the second ioctl succeeds: make_device_exclusive_range() first faults the
 * exclusive entries back (the GUP inside it: do_swap_page -> remove_device_exclusive_entry,
 * under an MMU_NOTIFY_EXCLUSIVE invalidation without an owner), then takes the pages again.
 *
 * Usage: exclusive-again [ROUNDS] (default 20)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/test_hmm_uapi.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint32_t))

static int dcmd(int fd, unsigned long req, void *addr, void *ptr, unsigned long n)
{
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)addr, .ptr = (uintptr_t)ptr, .npages = n };
	int ret;

	do
		ret = ioctl(fd, req, &cmd);
	while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

/* Counts of each result: [0] 0, [1] -EBUSY, [2] any other error. */
struct tally {
	long ok, ebusy, other;
};

static void count(struct tally *t, int ret)
{
	if (ret == 0)
		t->ok++;
	else if (ret == -EBUSY)
		t->ebusy++;
	else
		t->other++;
}

static void print(const char *what, unsigned long n, const struct tally *t)
{
	printf("%-44s %2lu page(s): %ld ok, %ld -EBUSY, %ld other\n", what, n, t->ok, t->ebusy, t->other);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20;
	static const unsigned long sizes[] = { 1, 64 };
	int fd = open("/dev/hmm_dmirror0", O_RDWR);

	if (fd < 0) {
		perror("open /dev/hmm_dmirror0");
		return 2;
	}
	for (unsigned int s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned long n = sizes[s];
		struct tally first = { 0 }, again = { 0 }, after_cpu = { 0 };
		uint32_t *mirror = malloc(n * PAGE);

		for (long r = 0; r < rounds; r++) {
			uint32_t *buf = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			volatile uint32_t sum = 0;

			if (buf == MAP_FAILED) {
				perror("mmap");
				return 2;
			}
			for (unsigned long i = 0; i < n * WORDS; i++)
				buf[i] = (uint32_t)(r * 1000 + i + 1);
			count(&first, dcmd(fd, HMM_DMIRROR_EXCLUSIVE, buf, mirror, n));
			count(&again, dcmd(fd, HMM_DMIRROR_EXCLUSIVE, buf, mirror, n));
			for (unsigned long i = 0; i < n; i++)
				sum += buf[i * WORDS];
			count(&after_cpu, dcmd(fd, HMM_DMIRROR_EXCLUSIVE, buf, mirror, n));
			munmap(buf, n * PAGE);
		}
		print("EXCLUSIVE", n, &first);
		print("EXCLUSIVE again, pages still exclusive", n, &again);
		print("EXCLUSIVE after a CPU read restored them", n, &after_cpu);
		free(mirror);
	}
	close(fd);
	return 0;
}
