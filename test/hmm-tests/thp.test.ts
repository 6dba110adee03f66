/**
 * hmm-tests.c, the device-private THP tests: migrate_anon_huge_empty, migrate_anon_huge_zero,
 * migrate_anon_huge_free, migrate_anon_huge_fault, migrate_partial_unmap_fault,
 * migrate_remap_fault, migrate_anon_huge_err, migrate_anon_huge_zero_err. The kernel runs them
 * with THP enabled for `MADV_HUGEPAGE` ranges, and so does the model (`thp: 'madvise'`): the
 * CPU's first touch of the advised, aligned 2 MiB maps a PMD (the huge zero page for a read),
 * which each test checks before going on. The driver passes `MIGRATE_VMA_SELECT_COMPOUND`, as
 * NEWEST's test_hmm does, so a THP moves to device memory whole (a device-private PMD) unless an
 * allocation fails and the driver falls back to base pages. See README.md for the THP test left
 * out.
 */
import {
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from '@hmmlab/core';
import { describe, expect } from 'vitest';
import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_SNAPSHOT,
} from '../../examples/dmirror/uapi.js';
import {
  align,
  cpuFill,
  expectCpuWords,
  expectDone,
  expectWords,
  fill,
  HMM_VARIANTS,
  type HmmBuffer,
  type HmmTest,
  hmmBufferFree,
  hmmBufferMap,
  hmmDmirrorCmd,
  hmmIsCoherentType,
  hmmMigrateDevToSys,
  hmmMigrateSysToDev,
  PMD_SIZE,
  pmdMapping,
  runHmm,
  seq,
  testF,
} from './fixture.js';

const ONEKB = 1 << 10;
const ONEMEG = 1 << 20;

/** The common start: `2 * size` mapped, `size` bytes PMD-aligned and advised, a 0xFF mirror. */
async function hugeBuffer(t: HmmTest, prot: number, advice = MADV_HUGEPAGE): Promise<{ buffer: HmmBuffer; oldPtr: number; size: number }> {
  const size = PMD_SIZE;
  const buffer = await hmmBufferMap(t, 2 * size, prot, MAP_PRIVATE | MAP_ANONYMOUS, size);
  fill(buffer.mirror, size / 4, () => -1); // memset(buffer->mirror, 0xFF, size)
  const map = align(buffer.ptr, size);
  expect(await t.mm.madvise(map, size, advice)).toBe(0);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;
  return { buffer, oldPtr, size };
}

describe('hmm-tests: THP tests', () => {
  // Migrate private anonymous huge empty page.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_empty', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { buffer, oldPtr, size } = await hugeBuffer(t, PROT_READ);
        const npages = size / t.pageSize;
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, () => 0, 'mirror');
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate private anonymous huge zero page.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_zero', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { buffer, oldPtr, size } = await hugeBuffer(t, PROT_READ);
        const npages = size / t.pageSize;
        // Initialize a read-only zero huge page.
        expect(await t.mm.read(buffer.ptr)).toBe(0);
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('zero');
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, () => 0, 'mirror');
        // Fault pages back to system memory and check them.
        await expectCpuWords(t.mm, buffer.ptr, size / 4, () => 0, 'ptr');
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate private anonymous huge page and free.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_free', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { buffer, oldPtr, size } = await hugeBuffer(t, PROT_READ | PROT_WRITE);
        const npages = size / t.pageSize;
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('thp');
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // The driver asks for MIGRATE_VMA_SELECT_COMPOUND: the THP moved whole, to a
        // device-private PMD (or a PMD-mapped device-coherent folio).
        expect(pmdMapping(t.mm, buffer.ptr)).toBe(hmmIsCoherentType(v.deviceNumber) ? 'thp' : 'device-private');
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        // Try freeing it.
        expect(await t.mm.madvise(buffer.ptr, size, MADV_FREE)).toBe(0);
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate private anonymous huge page and fault back to sysmem.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_fault', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { buffer, oldPtr, size } = await hugeBuffer(t, PROT_READ | PROT_WRITE);
        const npages = size / t.pageSize;
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('thp');
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        if (!hmmIsCoherentType(v.deviceNumber)) {
          expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          const m = new Uint8Array(buffer.mirror.buffer);
          expectWords(m, npages, () => HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD, 'snapshot');
          // pagemap: every page a swap-type (device-private) entry, none present.
          expect(pmdMapping(t.mm, buffer.ptr)).toBe('device-private');
        }
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate memory and fault back to sysmem after partially unmapping.
  testF(HMM_VARIANTS, 'hmm.migrate_partial_unmap_fault', async (v) => {
    let rounds = 0;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const offsets = [0, 512 * ONEKB, ONEMEG];
        for (let useThp = 0; useThp < 2; ++useThp) {
          for (const off of offsets) {
            const { buffer, oldPtr, size } = await hugeBuffer(t, PROT_READ | PROT_WRITE, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
            const npages = size / t.pageSize;
            await cpuFill(t.mm, buffer.ptr, size / 4, seq());
            expect(pmdMapping(t.mm, buffer.ptr)).toBe(useThp ? 'thp' : undefined);
            expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
            expect(buffer.cpages).toBe(npages);
            expectWords(buffer.mirror, size / 4, seq(), 'mirror');
            expect(await t.mm.munmap(buffer.ptr + off, ONEMEG)).toBe(0);
            // Fault pages back to system memory and check them: the words outside the hole.
            const what = `ptr (thp ${useThp}, offset ${off})`;
            await expectCpuWords(t.mm, buffer.ptr, off / 4, seq(), what);
            const tail = off + ONEMEG;
            await expectCpuWords(t.mm, buffer.ptr + tail, (size - tail) / 4, seq(tail / 4), what);
            buffer.ptr = oldPtr;
            await hmmBufferFree(t, buffer);
            rounds++;
          }
        }
      }),
    );
    expect(rounds).toBe(6);
  });

  testF(HMM_VARIANTS, 'hmm.migrate_remap_fault', async (v) => {
    let rounds = 0;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const size = PMD_SIZE;
        const offsets = [0, 512 * ONEKB, ONEMEG];
        for (let before = 0; before < 2; ++before) {
          for (let dontUnmap = 0; dontUnmap < 2; ++dontUnmap) {
            for (let useThp = 0; useThp < 2; ++useThp) {
              for (const off of offsets) {
                let flags = MREMAP_MAYMOVE | MREMAP_FIXED;
                if (dontUnmap) flags |= MREMAP_DONTUNMAP;
                const buffer = await hmmBufferMap(t, 8 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, size);
                fill(buffer.mirror, size / 4, () => -1);
                const npages = size / t.pageSize;
                const map = align(buffer.ptr, size);
                expect(await t.mm.madvise(map, size, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)).toBe(0);
                const oldPtr = buffer.ptr;
                await t.mm.munmap(map + size, size * 2);
                buffer.ptr = map;
                await cpuFill(t.mm, buffer.ptr, size / 4, seq());
                expect(pmdMapping(t.mm, buffer.ptr)).toBe(useThp ? 'thp' : undefined);
                let newPtr = 0;
                if (before) {
                  newPtr = await t.mm.mremap(map, size, size, flags, map + size + off);
                  expect(newPtr).toBeGreaterThan(0);
                  buffer.ptr = newPtr;
                  // move_huge_pmd when both addresses are PMD aligned; split_huge_pmd otherwise.
                  expect(pmdMapping(t.mm, newPtr)).toBe(useThp && off === 0 ? 'thp' : undefined);
                }
                expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
                expect(buffer.cpages).toBe(npages);
                expectWords(buffer.mirror, size / 4, seq(), 'mirror');
                if (!before) {
                  newPtr = await t.mm.mremap(map, size, size, flags, map + size + off);
                  expect(newPtr).toBeGreaterThan(0);
                  buffer.ptr = newPtr;
                }
                // Fault pages back to system memory and check them.
                await expectCpuWords(
                  t.mm,
                  buffer.ptr,
                  size / 4,
                  seq(),
                  `ptr (before ${before}, dontunmap ${dontUnmap}, thp ${useThp}, offset ${off})`,
                );
                await t.mm.munmap(newPtr, size);
                buffer.ptr = oldPtr;
                await hmmBufferFree(t, buffer);
                rounds++;
              }
            }
          }
        }
      }),
    );
    expect(rounds).toBe(24);
  });

  // Migrate private anonymous huge page with allocation errors.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_err', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const size = PMD_SIZE;
        const npages = size / t.pageSize;
        const buffer = await hmmBufferMap(t, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 2 * size);
        fill(buffer.mirror, (2 * size) / 4, () => -1);
        let oldPtr = buffer.ptr;
        let map = align(oldPtr, size);
        expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
        buffer.ptr = map;
        // Initialize buffer in system memory.
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('thp');
        // Migrate memory to device but force a THP allocation error.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC)).toBe(0);
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // Check what the device read.
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        // The driver fell back to base pages: the THP was split on its way.
        expect(pmdMapping(t.mm, buffer.ptr)).toBeUndefined();
        // Try faulting back a single (PAGE_SIZE) page.
        expect(await t.mm.read(buffer.ptr + 2048 * 4)).toBe(2048);
        // unmap and remap the region to reset things.
        expect(await t.mm.munmap(oldPtr, 2 * size)).toBe(0);
        oldPtr = await t.mm.mmap(0, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        expect(oldPtr, 'mmap').toBeGreaterThan(0);
        map = align(oldPtr, size);
        expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
        buffer.ptr = map;
        // Initialize buffer in system memory.
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        // Migrate THP to device.
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(pmdMapping(t.mm, buffer.ptr)).toBe(hmmIsCoherentType(v.deviceNumber) ? 'thp' : 'device-private');
        // Force an allocation error when faulting back a THP resident in the device.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC)).toBe(0);
        expect(await hmmMigrateDevToSys(t.fd, buffer, npages)).toBe(0);
        expect(await t.mm.read(buffer.ptr + 2048 * 4)).toBe(2048);
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate private anonymous huge zero page with allocation errors.
  testF(HMM_VARIANTS, 'hmm.migrate_anon_huge_zero_err', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const size = PMD_SIZE;
        const npages = size / t.pageSize;
        const buffer = await hmmBufferMap(t, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 2 * size);
        fill(buffer.mirror, (2 * size) / 4, () => -1);
        let oldPtr = buffer.ptr;
        let map = align(oldPtr, size);
        expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
        buffer.ptr = map;
        // Migrate memory to device but force a THP allocation error.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC)).toBe(0);
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // Check what the device read.
        expectWords(buffer.mirror, size / 4, () => 0, 'mirror');
        // Try faulting back a single (PAGE_SIZE) page.
        const ptr = buffer.ptr;
        expect(await t.mm.read(ptr + 2048 * 4)).toBe(0);
        // unmap and remap the region to reset things.
        expect(await t.mm.munmap(oldPtr, 2 * size)).toBe(0);
        oldPtr = await t.mm.mmap(0, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
        expect(oldPtr, 'mmap').toBeGreaterThan(0);
        map = align(oldPtr, size);
        expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
        buffer.ptr = map;
        // Initialize buffer in system memory (zero THP page): the C test reads through the
        // pointer it kept, which the new mapping reuses.
        expect(map).toBe(ptr);
        expect(await t.mm.read(ptr)).toBe(0);
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('zero');
        // Migrate memory to device but force a THP allocation error.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC)).toBe(0);
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // Fault the device memory back and check it.
        await expectCpuWords(t.mm, buffer.ptr, size / 4, () => 0, 'ptr');
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });
});
