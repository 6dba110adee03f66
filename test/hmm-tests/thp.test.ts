/**
 * hmm-tests.c, the device-private THP tests: migrate_anon_huge_empty, migrate_anon_huge_zero,
 * migrate_anon_huge_free, migrate_anon_huge_fault, migrate_partial_unmap_fault,
 * migrate_remap_fault. The kernel runs them with THP enabled for `MADV_HUGEPAGE` ranges, and so
 * does the model (`thp: 'madvise'`): the CPU's first touch of the advised, aligned 2 MiB maps a
 * PMD (the huge zero page for a read), which each test checks before going on. The driver passes
 * no `MIGRATE_VMA_SELECT_COMPOUND` (the model has no device folios), so migration splits the THP
 * and moves its 512 pages one by one, as the kernel does without that flag. See README.md for
 * the THP tests left out.
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
        expect(pmdMapping(t.mm, buffer.ptr)).toBeUndefined();
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
});
