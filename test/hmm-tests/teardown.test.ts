/**
 * hmm-tests.c `anon_teardown`: a device READ while another thread unmaps the second half of the
 * buffer after a random delay. The C test asserts only when the READ succeeds; its thread sleeps
 * `hmm_random() % 32000` ns. Here the thread is a second task sleeping a pseudo-random number of
 * model ticks (a READ of 1024 pages takes about 130), and every run draws its interleaving from a
 * seeded decision source, so the munmap lands before, during and after the READ.
 */
import { seededDecisions } from '@hmmlab/core';
import { describe, expect } from 'vitest';
import { HMM_DMIRROR_READ } from '../../examples/dmirror/uapi.js';
import {
  bufferPages,
  cpuFill,
  expectDone,
  expectWords,
  HMM_VARIANTS,
  hmmBufferFree,
  hmmBufferMap,
  hmmDmirrorCmd,
  NTIMES,
  runHmm,
  seq,
  testF,
} from './fixture.js';

/** Seeds: each is one run of the test (NTIMES reads) under its own schedule and delays. */
const SEEDS = [1, 2, 3, 4, 5, 6];

/** Largest delay of the unmapping thread, in ticks. */
const MAX_DELAY = 200;

/** `hmm_random()`: a xorshift32 stream, so that a seed replays the same delays. */
function hmmRandom(seed: number): () => number {
  let x = seed * 0x9e3779b1 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('hmm-tests: teardown', () => {
  // Try reading anonymous memory while it is being unmapped.
  testF(
    HMM_VARIANTS,
    'hmm.anon_teardown',
    async (v) => {
      const outcomes = new Map<number, number>();
      for (const seed of SEEDS) {
        const random = hmmRandom(seed);
        await expectDone(
          runHmm(
            [v.deviceNumber],
            async (t) => {
              const { npages, size } = bufferPages(t);
              for (let c = 0; c < NTIMES; ++c) {
                const buffer = await hmmBufferMap(t, size);
                await cpuFill(t.mm, buffer.ptr, size / 4, seq(c));
                // pthread_create(unmap_buffer): delay for a bit and then unmap the buffer while it is being read.
                const joined = t.k.completion(`unmap_buffer ${c}`);
                const delay = random() % MAX_DELAY;
                t.k.spawn(`unmap_buffer ${c}`, 'cpu', async () => {
                  await t.k.msleep(delay);
                  await t.mm.munmap(buffer.ptr + buffer.size / 2, buffer.size / 2);
                  buffer.ptr = 0;
                  joined.complete();
                });
                // Simulate a device reading system memory.
                const rc = await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages);
                outcomes.set(rc, (outcomes.get(rc) ?? 0) + 1);
                if (rc === 0) {
                  expect(buffer.cpages).toBe(npages);
                  expect(buffer.faults).toBe(1);
                  expectWords(buffer.mirror, size / 4, seq(c), `mirror (seed ${seed}, round ${c})`);
                }
                await joined.waitForCompletion();
                // The thread cleared buffer->ptr: hmm_buffer_free unmaps nothing, as in C.
                await hmmBufferFree(t, buffer);
              }
            },
            { decisions: seededDecisions(seed) },
          ),
        );
      }
      // Not in the C test: the schedules must have reached both branches of `if (rc == 0)`,
      // and a READ that loses the race fails with -EFAULT (hmm_range_fault on an unmapped range).
      expect(outcomes.get(0) ?? 0).toBeGreaterThan(0);
      expect([...outcomes.keys()].sort((a, b) => a - b)).toEqual([-14, 0]);
    },
    `${SEEDS.length} seeded schedules`,
  );
});
