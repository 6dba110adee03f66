/**
 * Device atomics through device-exclusive entries (nouveau_atomic_range_fault): read the sequence,
 * make the page exclusive with the device's own owner, and map it for atomics under `L` only if no
 * invalidation came in between. The mirror skips its own `MMU_NOTIFY_EXCLUSIVE` without `set_seq`
 * (bug-classes N2), or the conversion would invalidate the sequence it is checked against.
 */
import { EBUSY, makeDeviceExclusive, makeDeviceExclusiveRange, mmuIntervalReadBegin, mmuIntervalReadRetry, type Page } from '@hmmlab/core';
import { faultInUserPage } from '@hmmlab/harness';
import type { SvmMirror } from './svm-mirror.js';

/** `-EOPNOTSUPP`: the kernel has no device-exclusive entries (before v5.14). */
const EOPNOTSUPP = 95;

/** Attempts before giving up on a page that keeps being invalidated. */
const ATTEMPTS = 8;

/** `make_device_exclusive` (6.14+) or `make_device_exclusive_range` of one page (5.14–6.13). */
async function takeExclusive(m: SvmMirror, va: number): Promise<Page | number> {
  const mm = m.mm;
  await mm.mmapLock.downRead();
  try {
    if (m.kernel.profile.exclusive === 'single') return await makeDeviceExclusive(mm, va, m.owner);
    const pages: (Page | null)[] = [null];
    const r = await makeDeviceExclusiveRange(mm, va, va + m.kernel.pageSize, pages, m.owner);
    return r < 0 ? r : (pages[0] ?? -EBUSY);
  } finally {
    mm.mmapLock.upRead();
  }
}

/** With the page locked: maps it for atomics under `L` if the sequence read before the conversion still holds. */
export async function svmMapExclusive(m: SvmMirror, va: number, page: Page, seq: number): Promise<boolean> {
  await m.lock.lock();
  const ok = !mmuIntervalReadRetry(m.notifier, seq);
  if (ok) m.vm.setPte(va, page, { write: true, atomic: true }, 'map exclusive');
  m.lock.unlock();
  return ok;
}

/** Drops what `make_device_exclusive` handed over: the folio lock and the reference (b3fefbb30a16). */
export function svmReleaseExclusive(m: SvmMirror, page: Page): void {
  m.kernel.pages.unlockPage(page);
  m.kernel.pages.putPage(page);
}

/**
 * Undoes a device-exclusive entry an earlier attempt left, before the read section: the GUP of
 * the conversion would undo it inside the section, under an invalidation that moves the sequence
 * (one without the device's owner), and every attempt would fail alike. 0 or -EFAULT.
 */
async function faultInWritable(m: SvmMirror, va: number): Promise<number> {
  await m.mm.mmapLock.downRead();
  try {
    return await faultInUserPage(m.mm, va, true);
  } finally {
    m.mm.mmapLock.upRead();
  }
}

/** Takes the page at `va` for device atomics; 0 or a negative errno. */
export async function svmExclusiveFault(m: SvmMirror, va: number): Promise<number> {
  if (m.kernel.profile.exclusive === null) return -EOPNOTSUPP;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const r = await faultInWritable(m, va);
    if (r !== 0) return r;
    const seq = await mmuIntervalReadBegin(m.notifier);
    m.converting++;
    const page = await takeExclusive(m, va).finally(() => m.converting--);
    if (typeof page === 'number') return page;
    const ok = await m.mapExclusive(va, page, seq);
    m.releaseExclusive(page);
    if (ok) return 0;
  }
  return -EBUSY;
}
