/**
 * The seed patch, seen from hmm-tests: `migrate_fault` in its NEWEST form (migrate, fault the
 * first half back, migrate everything again) was added by the series that introduced
 * `MMU_NOTIFY_MIGRATE` ("mm/hmm/test: use the new migration invalidation"). It passes only
 * because the owner-tagged invalidation lets dmirror keep the mirror entries of the pages already
 * on the device. Run on profile 5.8 with the dmirror of that era, the same steps fail; the
 * passing counterpart is `hmm.migrate_fault [hmm_device_private]` in migrate.test.ts.
 */
import { ENOENT, PTE_DEVICE_PRIVATE, pteKindOf } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { HMM_DMIRROR_MIGRATE_TO_DEV } from '../../examples/dmirror/uapi.js';
import {
  bufferPages,
  cpuFill,
  expectCpuWords,
  expectDone,
  expectWords,
  hmmBufferFree,
  hmmBufferMap,
  hmmMigrateSysToDev,
  runHmm,
  seq,
} from './fixture.js';

describe('hmm-tests: the seed patch', () => {
  /*
   * What the v5.8 kernel does with these steps, and which C assertion fails:
   *
   * 1. The first HMM_DMIRROR_MIGRATE (0x02 then as now) migrates all 1024 pages: cpages 1024.
   * 2. The CPU reads the first half: each read runs dmirror_devmem_fault (src_owner = mdevice),
   *    whose collect sends MMU_NOTIFY_CLEAR and whose finalize_and_map erases the entry anyway
   *    (and the next one: xa_for_each_range includes its end). Pages 0-511 are system pages
   *    again and unmirrored; 512-1023 are still device-private, 513-1023 still mirrored.
   * 3. The second migrate: dmirror_migrate leaves src_owner NULL (system pages only). For each
   *    64-page chunk migrate_vma_collect sends MMU_NOTIFY_CLEAR with no owner (the event and the
   *    owner arrived with 998427b3ad2c), and the 5.8 dmirror_interval_invalidate has no filter:
   *    it erases the chunk's mirror entries. In chunks 8-15 every page is device-private, which a
   *    NULL src_owner does not select: nothing migrates, nothing is stored back, and the mirror
   *    loses pages 512-1023 although their data never moved.
   * 4. The read back (dmirror_do_read over the whole range) copies pages 0-511 and stops at page
   *    512 with -ENOENT. The ioctl returns -ENOENT without copying the command back, so the C test
   *    fails at the second `ASSERT_EQ(ret, 0)` with ret == -ENOENT (-2); buffer->cpages keeps the
   *    1024 of the first migrate, and the driver's own count stopped at 512.
   */
  it('hmm.migrate_fault under profile 5.8 (no owner filter, src_owner unset) fails with -ENOENT on the second migrate', async () => {
    const seen = { ret: 0, driverCpages: 0, bufferCpages: 0, mirrored: 0, devicePrivate: 0 };
    await expectDone(
      runHmm(
        [0],
        async (t) => {
          expect(t.fd.era.ownerFilter).toBe(false);
          const { npages, size } = bufferPages(t);
          const buffer = await hmmBufferMap(t, size);
          await cpuFill(t.mm, buffer.ptr, size / 4, seq());
          expect(await hmmMigrateSysToDev(t.fd, buffer, npages)).toBe(0);
          expect(buffer.cpages).toBe(npages);
          expectWords(buffer.mirror, size / 4, seq(), 'mirror');
          // Fault half the pages back to system memory and check them.
          await expectCpuWords(t.mm, buffer.ptr, size / 8, seq(), 'ptr');
          // Migrate memory to the device again: hmm_migrate_sys_to_dev, with the driver's outputs kept.
          const r = await t.fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: buffer.ptr, npages, ptr: buffer.mirror });
          seen.ret = r.ret;
          seen.driverCpages = r.cpages;
          seen.bufferCpages = buffer.cpages;
          for (let p = 0; p < npages; p++) {
            if (t.fd.pt.pte(buffer.ptr + p * t.pageSize) !== 0) seen.mirrored++;
            if (pteKindOf(t.mm.pte(buffer.ptr + p * t.pageSize)) === PTE_DEVICE_PRIVATE) seen.devicePrivate++;
          }
          // The data of the second half is intact: only the mirror forgot it.
          await expectCpuWords(t.mm, buffer.ptr, size / 4, seq(), 'ptr');
          await hmmBufferFree(t, buffer);
        },
        { profile: '5.8' },
      ),
    );
    expect(seen.ret).toBe(-ENOENT);
    expect(seen.driverCpages).toBe(512);
    expect(seen.bufferCpages).toBe(1024);
    expect(seen.mirrored).toBe(512);
    expect(seen.devicePrivate).toBe(1024);
  });
});
