import { describe, expect, it } from 'vitest';
import { EFAULT, EINVAL } from '../errors.js';
import { Kernel, type KernelOptions } from '../kernel.js';
import { MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE, ULONG_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import type { Page } from '../mm/page.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_PRESENT, pteKindOf, pteWrite } from '../mm/pte.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_PROTECTION_PAGE } from '../notifier/range.js';
import type { ProfileName } from '../profile.js';
import { SignalError } from '../sched/scheduler.js';
import { asPage, mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { makeDeviceExclusive, makeDeviceExclusiveRange } from './device-exclusive.js';

const OWNER = { device: 'gpu' };

interface Seen {
  event: number;
  start: number;
  end: number;
  owner: unknown;
}

async function world(
  profile: ProfileName,
  overrides: KernelOptions = {},
): Promise<{ k: Kernel; mm: Mm; base: number; ps: number; seen: Seen[] }> {
  const k = new Kernel({ trace: 'all', profile, ...overrides });
  const mm = k.createMm();
  const base = await mapAnon(mm, 2);
  await mm.write(base, 7);
  await mm.write(base + k.pageSize, 8);
  const seen: Seen[] = [];
  await mmuIntervalNotifierInsert(new MmuIntervalNotifier('watcher'), mm, 0, ULONG_MAX, {
    invalidate(_m, r) {
      seen.push({ event: r.event, start: r.start, end: r.end, owner: r.owner });
      return true;
    },
  });
  return { k, mm, base, ps: k.pageSize, seen };
}

/** Converts the page at `va` with the profile's API, then drops the page lock and reference. */
async function exclusive(k: Kernel, mm: Mm, va: number): Promise<void> {
  await mm.mmapLock.downRead();
  let page: Page;
  if (mm.profile.exclusive === 'single') page = asPage(await makeDeviceExclusive(mm, va, OWNER));
  else {
    const pages: (Page | null)[] = [null];
    expect(await makeDeviceExclusiveRange(mm, va, va + k.pageSize, pages, OWNER)).toBe(1);
    page = pages[0] as Page;
  }
  mm.mmapLock.upRead();
  k.pages.unlockPage(page);
  k.pages.putPage(page);
}

describe('makeDeviceExclusive (rule 9)', () => {
  it.each(['5.14', '6.1', 'latest'] as const)('should convert under MMU_NOTIFY_EXCLUSIVE with the caller owner on %s', async (profile) => {
    const { k, mm, base, ps, seen } = await world(profile);
    await exclusive(k, mm, base);
    expect(seen).toEqual([{ event: MMU_NOTIFY_EXCLUSIVE, start: base, end: base + ps, owner: OWNER }]);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it.each([
    ['5.14', MMU_NOTIFY_EXCLUSIVE],
    ['6.1', MMU_NOTIFY_EXCLUSIVE],
    ['latest', MMU_NOTIFY_CLEAR],
  ] as const)('should restore the entry on a CPU access under %s with event %i and no owner', async (profile, event) => {
    const { k, mm, base, ps, seen } = await world(profile);
    await exclusive(k, mm, base);
    seen.length = 0;
    expect(await mm.read(base)).toBe(7);
    expect(seen).toEqual([{ event, start: base, end: base + ps, owner: undefined }]);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_PRESENT);
    expect(pteWrite(mm.pte(base))).toBe(true);
  });

  it.each([
    ['5.14', MMU_NOTIFY_EXCLUSIVE],
    ['latest', MMU_NOTIFY_CLEAR],
  ] as const)("should pass the caller's owner on restore under the 'caller' what-if on %s, with event %i", async (profile, event) => {
    const { k, mm, base, seen } = await world(profile, { profileOverrides: { exclusiveRestoreOwner: 'caller' } });
    await exclusive(k, mm, base);
    seen.length = 0;
    await mm.write(base, 1);
    expect(seen).toEqual([expect.objectContaining({ event, owner: OWNER })]);
  });

  it.each(['5.14', 'latest'] as const)('should not restore a writable entry after mprotect(PROT_READ) on %s', async (profile) => {
    const { k, mm, base, ps } = await world(profile);
    await exclusive(k, mm, base);
    await mm.mprotect(base, ps, PROT_READ);
    expect(await mm.read(base)).toBe(7);
    expect(pteWrite(mm.pte(base))).toBe(false);
    await expect(mm.write(base, 1)).rejects.toBeInstanceOf(SignalError);
    expect(await mm.read(base)).toBe(7);
  });

  it('should restore an exclusive entry at fork under the fork invalidation', async () => {
    const { k, mm, base, seen } = await world('latest');
    await exclusive(k, mm, base);
    seen.length = 0;
    const child = await mm.fork();
    expect(seen.map((s) => s.event)).toEqual([MMU_NOTIFY_PROTECTION_PAGE]);
    expect(pteKindOf(mm.pte(base))).toBe(PTE_PRESENT);
    expect(await child.read(base)).toBe(7);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it('should return -EFAULT for a read-only VMA and -EINVAL for shared memory', async () => {
    const { k, mm, base, ps } = await world('latest');
    await mm.mprotect(base + ps, ps, PROT_READ);
    const shared = await mm.mmap(0, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    await mm.mmapLock.downRead();
    expect(await makeDeviceExclusive(mm, base + ps, OWNER)).toBe(-EFAULT);
    expect(await makeDeviceExclusive(mm, shared, OWNER)).toBe(-EINVAL);
    mm.mmapLock.upRead();
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });

  it.each([
    ['makeDeviceExclusive on 5.14', '5.14' as const, 'single'],
    ['makeDeviceExclusiveRange on latest', 'latest' as const, 'range'],
    ['makeDeviceExclusive on 5.9', '5.9' as const, 'single'],
  ])('should throw ERR_PROFILE for %s', async (_what, profile, api) => {
    const { mm, base, ps } = await world(profile);
    await mm.mmapLock.downRead();
    const call = api === 'single' ? makeDeviceExclusive(mm, base, OWNER) : makeDeviceExclusiveRange(mm, base, base + ps, [null], OWNER);
    await expect(call).rejects.toMatchObject({ code: 'ERR_PROFILE' });
    mm.mmapLock.upRead();
  });

  it('should throw without the mmap lock', async () => {
    const { mm, base } = await world('latest');
    await expect(makeDeviceExclusive(mm, base, OWNER)).rejects.toMatchObject({ code: 'ERR_NOT_LOCKED' });
  });
});

describe('makeDeviceExclusiveRange', () => {
  it('should process the pages before the first one that cannot be faulted, as get_user_pages_remote does', async () => {
    const { k, mm, base, ps, seen } = await world('5.14');
    await mm.mprotect(base + ps, ps, PROT_READ);
    seen.length = 0;
    const pages: (Page | null)[] = [null, null];
    await mm.mmapLock.downRead();
    expect(await makeDeviceExclusiveRange(mm, base, base + 2 * ps, pages, OWNER)).toBe(1);
    expect(await makeDeviceExclusiveRange(mm, base + ps, base + 2 * ps, [null], OWNER)).toBe(-EFAULT);
    mm.mmapLock.upRead();
    expect(pages[1]).toBeNull();
    expect(pteKindOf(mm.pte(base))).toBe(PTE_DEVICE_EXCLUSIVE);
    const p = pages[0] as Page;
    k.pages.unlockPage(p);
    k.pages.putPage(p);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

// mm/memory.c copy_nonpresent_pte → try_restore_exclusive_pte: the entry comes from vm_page_prot.
describe('fork of a device-exclusive entry', () => {
  it.each([
    [PROT_NONE, 'SIGSEGV'],
    [PROT_READ, 'ok'],
  ] as const)('should restore it with the VMA protection (%i): a child read gives %s', async (prot, want) => {
    const { k, mm, base, ps } = await world('6.1');
    await exclusive(k, mm, base);
    expect(await mm.mprotect(base, ps, prot)).toBe(0);
    const child = await mm.fork();
    const got = await child.read(base).then(
      () => 'ok',
      (e: unknown) => (e instanceof SignalError ? e.signal : String(e)),
    );
    expect(got).toBe(want);
  });
});
