import { describe, expect, it } from 'vitest';
import { EINVAL, ENOMEM } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from '../notifier/interval-notifier.js';
import { MMU_NOTIFY_UNMAP } from '../notifier/range.js';
import { eventsOf } from '../test-helpers.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from './constants.js';
import { PTE_PRESENT, pteKindOf, pteWrite } from './pte.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

describe('mmap', () => {
  it('should hand out page-aligned addresses top-down without overlap', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mm.mmap(0, 100, RW, ANON);
    const b = await mm.mmap(0, 3 * 4096, RW, ANON);
    expect(a % 4096).toBe(0);
    expect(b + 3 * 4096).toBeLessThanOrEqual(a);
    expect(mm.findVma(a)?.end).toBe(a + 4096);
  });

  it('should use a free hint address', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    expect(await mm.mmap(0x40000000, 4096, RW, ANON)).toBe(0x40000000);
  });

  it.each([
    ['bad prot bits', 0, 4096, 0x10, ANON, 0, -EINVAL],
    ['neither shared nor private', 0, 4096, RW, MAP_ANONYMOUS, 0, -EINVAL],
    ['length 0', 0, 0, RW, ANON, 0, -EINVAL],
    ['an unaligned MAP_FIXED address', 0x40000001, 4096, RW, ANON | MAP_FIXED, 0, -EINVAL],
    ['MAP_HUGETLB without huge pages', 0, 4096, RW, ANON | MAP_HUGETLB, 0, -ENOMEM],
  ])('should fail for %s', async (_what, addr, len, prot, flags, _off, ret) => {
    const k = new Kernel();
    expect(await k.createMm().mmap(addr, len, prot, flags)).toBe(ret);
  });

  it('should throw for flag bits the model does not implement', async () => {
    const k = new Kernel();
    await expect(k.createMm().mmap(0, 4096, RW, ANON | 0x100)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
  });

  it('should unmap what MAP_FIXED replaces under an UNMAP invalidation', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    const a = await mm.mmap(0, 2 * 4096, RW, ANON);
    await mm.write(a, 1);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('n'), mm, 0, ULONG_MAX, { invalidate: () => true });
    expect(await mm.mmap(a, 4096, RW, ANON | MAP_FIXED)).toBe(a);
    expect(eventsOf(k, 'inv-start').map((e) => [e.event, e.start, e.end])).toEqual([[MMU_NOTIFY_UNMAP, a, a + 4096]]);
    expect(await mm.read(a)).toBe(0);
    expect(mm.vmas).toHaveLength(2);
  });

  it('should fault every page in with MAP_POPULATE, writable for a private writable mapping', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mm.mmap(0, 2 * 4096, RW, ANON | MAP_POPULATE);
    expect([0, 1].map((i) => pteKindOf(mm.pte(a + i * 4096)) === PTE_PRESENT && pteWrite(mm.pte(a + i * 4096)))).toEqual([true, true]);
  });

  it('should back shared anonymous memory with a shmem file', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mm.mmap(0, 4096, RW, MAP_SHARED | MAP_ANONYMOUS);
    const vma = mm.findVma(a);
    expect(vma?.file?.shmem).toBe(true);
    expect(vma?.anonymous).toBe(false);
  });
});
