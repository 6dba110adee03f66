/**
 * hmm-tests.c, device reads and writes of system memory: open_close, anon_read, anon_read_prot,
 * anon_write, anon_write_prot, anon_write_child, anon_write_child_shared, anon_write_huge,
 * anon_write_hugetlbfs, file_read, file_write, anon_read_multiple, mixedmap.
 */
import {
  EFAULT,
  EPERM,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '@hmmlab/core';
import { describe, expect } from 'vitest';
import { HMM_DMIRROR_PROT_READ, HMM_DMIRROR_READ, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_WRITE } from '../../examples/dmirror/uapi.js';
import {
  align,
  bufferPages,
  cpuFill,
  expectCpuWords,
  expectDone,
  expectWords,
  fill,
  HMM_BUFFER_SIZE,
  HMM_VARIANTS,
  type HmmBuffer,
  hmmBufferFree,
  hmmBufferMap,
  hmmDmirrorCmd,
  hmmMigrateSysToDev,
  NTIMES,
  PMD_SIZE,
  pmdMapping,
  runHmm,
  seq,
  testF,
} from './fixture.js';

describe('hmm-tests: device access to system memory', () => {
  // Simple NULL test of device open/close.
  testF(HMM_VARIANTS, 'hmm.open_close', async (v) => {
    let opened = false;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        opened = t.fd.notifier.inserted;
      }),
    );
    expect(opened).toBe(true);
  });

  // Read private anonymous memory.
  testF(HMM_VARIANTS, 'hmm.anon_read', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        // Initialize buffer in system memory but leave the first two pages zero (pte_none and pfn_zero).
        const first = (2 * t.pageSize) / 4;
        await cpuFill(t.mm, buffer.ptr + first * 4, size / 4 - first, seq(first));
        // Set buffer permission to read-only.
        expect(await t.mm.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);
        // Populate the CPU page table with a special zero page.
        expect(await t.mm.read(buffer.ptr + t.pageSize)).toBe(0);
        // Simulate a device reading system memory.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        // Check what the device read.
        expectWords(buffer.mirror, size / 4, (i) => (i < first ? 0 : i), 'mirror');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Read private anonymous memory which has been protected with mprotect() PROT_NONE.
  testF(HMM_VARIANTS, 'hmm.anon_read_prot', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        // Initialize mirror buffer so we can verify it isn't written.
        fill(buffer.mirror, size / 4, seq(0, -1));
        expect(await t.mm.mprotect(buffer.ptr, size, PROT_NONE)).toBe(0);
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(-EFAULT);
        // Allow CPU to read the buffer so we can check it.
        expect(await t.mm.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        expectWords(buffer.mirror, size / 4, seq(0, -1), 'mirror');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Write private anonymous memory.
  testF(HMM_VARIANTS, 'hmm.anon_write', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size);
        // Initialize data that the device will write to buffer->ptr.
        fill(buffer.mirror, size / 4, seq());
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Write private anonymous memory which has been protected with mprotect() PROT_READ.
  testF(HMM_VARIANTS, 'hmm.anon_write_prot', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size, PROT_READ);
        // Simulate a device reading a zero page of memory.
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, 1)).toBe(0);
        expect(buffer.cpages).toBe(1);
        expect(buffer.faults).toBe(1);
        fill(buffer.mirror, size / 4, seq());
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(-EPERM);
        await expectCpuWords(t.mm, buffer.ptr, size / 4, () => 0, 'ptr');
        // Now allow writing and see that the zero page is replaced.
        expect(await t.mm.mprotect(buffer.ptr, size, PROT_WRITE | PROT_READ)).toBe(0);
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // A device writing an anonymous private mapping copies-on-write if a child process inherits
  // the mapping; after fork() the child can read the memory the device holds.
  testF(HMM_VARIANTS, 'hmm.anon_write_child', async (v) => {
    let rounds = 0;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        for (let migrate = 0; migrate < 2; ++migrate) {
          for (let useThp = 0; useThp < 2; ++useThp) {
            const npages = align(useThp ? PMD_SIZE : HMM_BUFFER_SIZE, t.pageSize) / t.pageSize;
            expect(npages).not.toBe(0);
            const size = npages * t.pageSize;
            const buffer = await hmmBufferMap(t, size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, size);
            const oldPtr = buffer.ptr;
            if (useThp) {
              const map = align(buffer.ptr, size);
              expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
              buffer.ptr = map;
            }
            // Initialize buffer->ptr so we can tell if it is written.
            await cpuFill(t.mm, buffer.ptr, size / 4, seq());
            expect(pmdMapping(t.mm, buffer.ptr)).toBe(useThp ? 'thp' : undefined);
            // Initialize data that the device will write to buffer->ptr.
            fill(buffer.mirror, size / 4, seq(0, -1));
            if (migrate) {
              expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
              expect(buffer.cpages).toBe(npages);
            }
            // fork(): the child runs to exit(0) before the parent's waitpid() returns.
            const child = await t.mm.fork();
            const cbuf: HmmBuffer = { ...buffer };
            // Check that we see the parent's values.
            await expectCpuWords(child, cbuf.ptr, size / 4, seq(), 'child ptr');
            if (!migrate) expectWords(cbuf.mirror, size / 4, seq(0, -1), 'child mirror');
            // The child process needs its own mirror to its own mm.
            const childFd = await t.hmmOpen(0, child);
            expect(await hmmDmirrorCmd(childFd, HMM_DMIRROR_WRITE, cbuf, npages)).toBe(0);
            expect(cbuf.cpages).toBe(npages);
            expect(cbuf.faults).toBe(1);
            // Check what the device wrote.
            if (!migrate) await expectCpuWords(child, cbuf.ptr, size / 4, seq(0, -1), 'child ptr');
            await childFd.unbind();
            await child.exit();
            // Check that the parent's buffer did not change.
            await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'parent ptr');
            buffer.ptr = oldPtr;
            await hmmBufferFree(t, buffer);
            rounds++;
          }
        }
      }),
    );
    expect(rounds).toBe(4);
  });

  // A device writing an anonymous shared mapping does not copy-on-write if a child process
  // inherits the mapping.
  testF(HMM_VARIANTS, 'hmm.anon_write_child_shared', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const buffer = await hmmBufferMap(t, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
        await cpuFill(t.mm, buffer.ptr, size / 4, seq());
        fill(buffer.mirror, size / 4, seq(0, -1));
        const child = await t.mm.fork();
        const cbuf: HmmBuffer = { ...buffer };
        await expectCpuWords(child, cbuf.ptr, size / 4, seq(), 'child ptr');
        expectWords(cbuf.mirror, size / 4, seq(0, -1), 'child mirror');
        const childFd = await t.hmmOpen(0, child);
        expect(await hmmDmirrorCmd(childFd, HMM_DMIRROR_WRITE, cbuf, npages)).toBe(0);
        expect(cbuf.cpages).toBe(npages);
        expect(cbuf.faults).toBe(1);
        await expectCpuWords(child, cbuf.ptr, size / 4, seq(0, -1), 'child ptr');
        await childFd.unbind();
        await child.exit();
        // Check that the parent's buffer did change.
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(0, -1), 'parent ptr');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Write private anonymous huge page: the device's write fault maps a THP
  // (do_huge_pmd_anonymous_page), which it then writes through.
  testF(HMM_VARIANTS, 'hmm.anon_write_huge', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        let size = 2 * PMD_SIZE;
        const buffer = await hmmBufferMap(t, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, size / 2);
        size /= 2;
        const npages = size / t.pageSize;
        const map = align(buffer.ptr, size);
        expect(await t.mm.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
        const oldPtr = buffer.ptr;
        buffer.ptr = map;
        fill(buffer.mirror, size / 4, seq());
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        expect(pmdMapping(t.mm, buffer.ptr)).toBe('thp');
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        buffer.ptr = oldPtr;
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Write huge TLBFS page. The kernel test needs a reserved huge page (it SKIPs without one):
  // the run's pool has one.
  testF(HMM_VARIANTS, 'hmm.anon_write_hugetlbfs', async (v) => {
    await expectDone(
      runHmm(
        [v.deviceNumber],
        async (t) => {
          const defaultHsize = PMD_SIZE; // default_huge_page_size(): Hugepagesize of x86-64
          const size = align(2 << 20, defaultHsize);
          const npages = size / t.pageSize;
          const ptr = await t.mm.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
          expect(ptr).toBeGreaterThan(0);
          const buffer: HmmBuffer = { ptr, mirror: new Int32Array(size / 4), size, cpages: 0, faults: 0 };
          // Initialize data that the device will write to buffer->ptr.
          fill(buffer.mirror, size / 4, seq());
          // Simulate a device writing system memory.
          expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          expect(buffer.faults).toBe(1);
          expect(pmdMapping(t.mm, ptr)).toBe('hugetlb');
          // Check what the device wrote.
          await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
          await hmmBufferFree(t, buffer);
          expect(t.k.hugetlb.free).toBe(1);
        },
        { hugePages: 1 },
      ),
    );
  });

  // Read mmap'ed file memory.
  testF(HMM_VARIANTS, 'hmm.file_read', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const file = t.k.createFile('hmm-tests O_TMPFILE', { size }); // hmm_create_file
        const mirror = new Int32Array(size / 4);
        // Write initial contents of the file (pwrite), then clear the mirror.
        fill(mirror, size / 4, seq());
        file.writeWords(0, mirror, t.wpp, t.pageSize);
        expect(file.size).toBe(size);
        mirror.fill(0);
        const ptr = await t.mm.mmap(0, size, PROT_READ, MAP_SHARED, file, 0);
        expect(ptr).toBeGreaterThan(0);
        const buffer: HmmBuffer = { ptr, mirror, size, cpages: 0, faults: 0 };
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        expectWords(buffer.mirror, size / 4, seq(), 'mirror');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Write mmap'ed file memory.
  testF(HMM_VARIANTS, 'hmm.file_write', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        const file = t.k.createFile('hmm-tests O_TMPFILE', { size });
        const ptr = await t.mm.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
        expect(ptr).toBeGreaterThan(0);
        const buffer: HmmBuffer = { ptr, mirror: new Int32Array(size / 4), size, cpages: 0, faults: 0 };
        fill(buffer.mirror, size / 4, seq());
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_WRITE, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.faults).toBe(1);
        await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
        // Check that the device also wrote the file (pread).
        expectWords(file.readWords(0, size / 4, t.wpp), size / 4, seq(), 'file');
        await hmmBufferFree(t, buffer);
      }),
    );
  });

  // Read anonymous memory multiple times.
  testF(HMM_VARIANTS, 'hmm.anon_read_multiple', async (v) => {
    let rounds = 0;
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const { npages, size } = bufferPages(t);
        for (let c = 0; c < NTIMES; c++) {
          const buffer = await hmmBufferMap(t, size);
          await cpuFill(t.mm, buffer.ptr, size / 4, seq(c));
          expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_READ, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          expect(buffer.faults).toBe(1);
          expectWords(buffer.mirror, size / 4, seq(c), `mirror (round ${c})`);
          await hmmBufferFree(t, buffer);
          rounds++;
        }
      }),
    );
    expect(rounds).toBe(NTIMES);
  });

  // Snapshot of a mapping of the device file itself (dmirror_fops_mmap: vm_insert_page).
  testF(HMM_VARIANTS, 'hmm.mixedmap', async (v) => {
    await expectDone(
      runHmm([v.deviceNumber], async (t) => {
        const npages = 1;
        const size = npages * t.pageSize;
        const ptr = await t.mm.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, t.fd.file, 0);
        expect(ptr).toBeGreaterThan(0);
        const buffer: HmmBuffer = { ptr, mirror: new Uint8Array(npages), size, cpages: 0, faults: 0 };
        expect(await hmmDmirrorCmd(t.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages)).toBe(0);
        expect(buffer.cpages).toBe(npages);
        expect(buffer.mirror[0]).toBe(HMM_DMIRROR_PROT_READ);
        await hmmBufferFree(t, buffer);
      }),
    );
  });
});
