/**
 * hmm-tests.c, snapshots and two devices: snapshot, compound, double_map.
 */
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '@hmmlab/core';
import { describe, expect } from 'vitest';
import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_SNAPSHOT,
} from '../../examples/dmirror/uapi.js';
import {
  align,
  cpuFill,
  expectDone,
  expectWords,
  HMM_VARIANTS,
  HMM2_VARIANTS,
  type HmmBuffer,
  hmmBufferFree,
  hmmBufferMap,
  hmmDmirrorCmd,
  hmmIsCoherentType,
  hmmMigrateSysToDev,
  PMD_SIZE,
  runHmm,
  seq,
  testF,
} from './fixture.js';

describe('hmm-tests: snapshots and two devices', () => {
  // Test memory snapshot without faulting in pages accessed by the device.
  testF(HMM2_VARIANTS, 'hmm2.snapshot', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber0, v.deviceNumber1], async (t) => {
        const npages = 7;
        const size = npages * t.pageSize;
        const buffer = await hmmBufferMap(t, size, PROT_NONE);
        buffer.mirror = new Uint8Array(npages);
        const p = buffer.ptr;
        // Punch a hole after the first page address.
        expect(await t.mm.munmap(buffer.ptr + t.pageSize, t.pageSize)).toBe(0);
        // Page 2 will be read-only zero page.
        expect(await t.mm.mprotect(buffer.ptr + 2 * t.pageSize, t.pageSize, PROT_READ)).toBe(0);
        const val = (await t.mm.read(buffer.ptr + 2 * t.pageSize)) + 3;
        expect(val).toBe(3);
        // Page 3 will be read-only.
        expect(await t.mm.mprotect(buffer.ptr + 3 * t.pageSize, t.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
        await t.mm.write(buffer.ptr + 3 * t.pageSize, val);
        expect(await t.mm.mprotect(buffer.ptr + 3 * t.pageSize, t.pageSize, PROT_READ)).toBe(0);
        // Page 4-6 will be read-write.
        expect(await t.mm.mprotect(buffer.ptr + 4 * t.pageSize, 3 * t.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
        await t.mm.write(buffer.ptr + 4 * t.pageSize, val);
        // Page 5 will be migrated to device 0.
        buffer.ptr = p + 5 * t.pageSize;
        buffer.mirror = new Int32Array(t.wpp);
        expect(await hmmMigrateSysToDev(t.fd, buffer, 1)).toBe(0);
        expect(buffer.cpages).toBe(1);
        // Page 6 will be migrated to device 1.
        buffer.ptr = p + 6 * t.pageSize;
        expect(await hmmMigrateSysToDev(t.fd1, buffer, 1)).toBe(0);
        expect(buffer.cpages).toBe(1);
        // Simulate a device snapshotting CPU pagetables.
        buffer.ptr = p;
        buffer.mirror = new Uint8Array(npages);
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // Check what the device saw.
        const m = buffer.mirror;
        expect(m[0]).toBe(HMM_DMIRROR_PROT_ERROR);
        expect(m[1]).toBe(HMM_DMIRROR_PROT_ERROR);
        expect(m[2]).toBe(HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
        expect(m[3]).toBe(HMM_DMIRROR_PROT_READ);
        expect(m[4]).toBe(HMM_DMIRROR_PROT_WRITE);
        if (!hmmIsCoherentType(v.deviceNumber0)) {
          expect(m[5]).toBe(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
          expect(m[6]).toBe(HMM_DMIRROR_PROT_NONE);
        } else {
          expect(m[5]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE);
          expect(m[6]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE);
        }
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // HMM_PFN_PMD for hugetlbfs pages: the snapshot reports the one huge page at PMD level
  // (hmm_vma_walk_hugetlb_entry: map order 9), writable, then read-only after mprotect. The run's
  // pool has the huge page the kernel test needs (it returns early without one).
  testF(HMM_VARIANTS, 'hmm.compound', async (v) => {
    await expectDone(
      runHmm(
        [v.deviceNumber],
        async (t) => {
          const defaultHsize = PMD_SIZE; // default_huge_page_size()
          const size = align(2 << 20, defaultHsize);
          const npages = size / t.pageSize;
          const ptr = await t.mm.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
          expect(ptr).toBeGreaterThan(0);
          const buffer: HmmBuffer = { ptr, mirror: new Uint8Array(npages), size, cpages: 0, faults: 0 };
          // Initialize the pages the device will snapshot in buffer->ptr.
          await cpuFill(t.mm, buffer.ptr, size / 4, seq());
          // Simulate a device snapshotting CPU pagetables.
          expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          // Check what the device saw: every page at the level of the first one.
          let m = buffer.mirror;
          let prot = HMM_DMIRROR_PROT_WRITE | ((m[0] as number) & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
          expect(prot).toBe(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
          expectWords(m, npages, () => prot, 'mirror');
          // Make the region read-only.
          expect(await t.mm.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);
          // Simulate a device snapshotting CPU pagetables.
          buffer.mirror = new Uint8Array(npages);
          expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          m = buffer.mirror;
          prot = HMM_DMIRROR_PROT_READ | ((m[0] as number) & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
          expect(prot).toBe(HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PMD);
          expectWords(m, npages, () => prot, 'mirror');
          await hmmBufferFree(t, buffer);
        },
        { hugePages: 1 },
      ),
    );
  });

  // Test two devices reading the same memory (double mapped).
  testF(HMM2_VARIANTS, 'hmm2.double_map', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber0, v.deviceNumber1], async (t) => {
        const npages = 6;
        const size = npages * t.pageSize;
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        // Make region read-only.
        expect(await t.mm.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);
        // Simulate device 0 reading system memory.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror (device 0)');
        // Simulate device 1 reading system memory.
        expect(await hmmDmirrorCmd(t.fd1, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror (device 1)');
        // Migrate pages to device 1 and try to read from device 0.
        expect(await hmmMigrateSysToDev(t.fd1, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror (device 0 after the migration)');
        await hmmBufferFree(t, buffer);
      }),
    );
  });
});
