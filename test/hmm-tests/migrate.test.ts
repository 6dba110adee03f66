/**
 * hmm-tests.c, migration to and from device memory: migrate, migrate_fault, migrate_release,
 * migrate_shared, migrate_mixed, migrate_multiple, hmm_cow_in_device.
 */
import { EINVAL, ENOENT, MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE } from '@hmmlab/core';
import { describe, expect } from 'vitest';
import { HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_RELEASE, HMM_DMIRROR_SNAPSHOT } from '../../examples/dmirror/uapi.js';
import {
  bufferPages,
  cpuFill,
  expectCpuWords,
  expectDone,
  expectWords,
  HMM_VARIANTS,
  HMM2_VARIANTS,
  hmmBufferFree,
  hmmBufferMap,
  hmmDmirrorCmd,
  hmmIsCoherentType,
  hmmMigrateDevToSys,
  hmmMigrateSysToDev,
  NTIMES,
  runHmm,
  seq,
  testF,
} from './fixture.js';

describe('hmm-tests: migration', () => {
  // Migrate anonymous memory to device private memory.
  testF(HMM_VARIANTS, 'hmm.migrate', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate anonymous memory to device private memory and fault some of it back to system
  // memory, then try migrating the resulting mix of system and device private memory to the
  // device.
  testF(HMM_VARIANTS, 'hmm.migrate_fault', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        // Fault half the pages back to system memory and check them.
        await expectCpuWords(t.mm, buffer.ptr, size / 8, seq(), 'ptr');
        // Migrate memory to the device again.
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  testF(HMM_VARIANTS, 'hmm.migrate_release', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        // Release device memory.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_RELEASE, buffer, npages)).toBe(0);
        // Fault pages back to system memory and check them.
        await expectCpuWords(t.mm, buffer.ptr, size / 8, seq(), 'ptr');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate anonymous shared memory to device private memory: nothing migrates.
  testF(HMM_VARIANTS, 'hmm.migrate_shared', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(-ENOENT);
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Try to migrate various memory types to device private memory.
  testF(HMM2_VARIANTS, 'hmm2.migrate_mixed', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber0, v.deviceNumber1], async (t) => {
        const npages = 6;
        const size = npages * t.pageSize;
        // Reserve a range of addresses.
        const buffer = await hmmBufferMap(t, size, PROT_NONE);
        const p = buffer.ptr;
        // Migrating a protected area should be an error.
        expect(await hmmMigrateSysToDev(t.fd1, buffer, npages)).toBe(-EINVAL);
        // Punch a hole after the first page address.
        expect(await t.mm.munmap(buffer.ptr + t.pageSize, t.pageSize)).toBe(0);
        // We expect an error if the vma doesn't cover the range.
        expect(await hmmMigrateSysToDev(t.fd1, buffer, 3)).toBe(-EINVAL);
        // Page 2 will be a read-only zero page.
        expect(await t.mm.mprotect(buffer.ptr + 2 * t.pageSize, t.pageSize, PROT_READ)).toBe(0);
        const val = (await t.mm.read(buffer.ptr + 2 * t.pageSize)) + 3;
        expect(val).toBe(3);
        // Page 3 will be read-only.
        expect(await t.mm.mprotect(buffer.ptr + 3 * t.pageSize, t.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
        await t.mm.write(buffer.ptr + 3 * t.pageSize, val);
        expect(await t.mm.mprotect(buffer.ptr + 3 * t.pageSize, t.pageSize, PROT_READ)).toBe(0);
        // Page 4-5 will be read-write.
        expect(await t.mm.mprotect(buffer.ptr + 4 * t.pageSize, 2 * t.pageSize, PROT_READ | PROT_WRITE)).toBe(0);
        await t.mm.write(buffer.ptr + 4 * t.pageSize, val);
        await t.mm.write(buffer.ptr + 5 * t.pageSize, val);
        // Now try to migrate pages 2-5 to device 1.
        buffer.ptr = p + 2 * t.pageSize;
        expect(await hmmMigrateSysToDev(t.fd1, buffer, 4)).toBe(0);
        expect(buffer.cpages).toBe(4);
        // Page 5 won't be migrated to device 0 because it's on device 1.
        buffer.ptr = p + 5 * t.pageSize;
        expect(await hmmMigrateSysToDev(t.fd, buffer, 1)).toBe(-ENOENT);
        buffer.ptr = p;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Migrate anonymous memory to device memory and back to system memory multiple times: through
  // CPU faults for private memory, through MIGRATE_TO_SYS for coherent memory (the CPU reads it
  // in place, without faults).
  testF(HMM_VARIANTS, 'hmm.migrate_multiple', async (v) => {
    let rounds = 0;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        for (let c = 0; c < NTIMES; c++) {
          const buffer = await hmmBufferMap(t, size);
          await cpuFill(t.mm, buffer.ptr, size / 4, seq());
          expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          expectWords(buffer.mirror, size / 4, seq(), `mirror (round ${c})`);
          // Migrate back to system memory and check them.
          if (hmmIsCoherentType(v.deviceNumber)) {
            expect(await hmmMigrateDevToSys(t.fd, buffer, npages)).toBe(0);
            expect(buffer.cpages).toBe(npages);
          }
          await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), `ptr (round ${c})`);
          await hmmBufferFree(t, buffer);
          rounds++;
        }
      }),
    );
    expect(rounds).toBe(NTIMES);
  });

  // Copy-on-write of device pages: a write to a COW private page migrates it to system memory
  // first, then copies it; a COW coherent page is copied from device memory directly.
  testF(HMM_VARIANTS, 'hmm.hmm_cow_in_device', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const npages = 4;
        const size = npages * t.pageSize;
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        // fork(): the child only spins until the parent kills it.
        const child = await t.mm.fork();
        // Parent process writes to COW pages(s) and gets a new copy in system.
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        // Terminate child and wait.
        await child.exit();
        // Take snapshot to CPU pagetables.
        buffer.mirror = new Uint8Array(npages);
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expectWords(buffer.mirror, npages, () => HMM_DMIRROR_PROT_WRITE, 'snapshot');
        await hmmBufferFree(t, buffer);
      }),
    );
  });
});
