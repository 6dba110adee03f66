import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { firstRunnable } from '../sched/decisions.js';
import { mapAnon } from '../test-helpers.js';
import { checkMmInvariants } from '../test-invariants.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from './constants.js';
import { oomReap } from './exit.js';

describe('oomReap', () => {
  it('should give up at once when the mmap lock is taken', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    await mm.mmapLock.downWrite();
    expect(await oomReap(mm)).toBe(false);
    mm.mmapLock.upWrite();
    expect(mm.pt.size).toBe(1);
  });

  it('should zap private memory and skip shared file mappings', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    const f = k.createFile('f', { size: k.pageSize });
    const s = await mm.mmap(0, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, f);
    await mm.write(a, 1);
    await mm.write(s, 2);
    expect(await oomReap(mm)).toBe(true);
    expect([mm.pte(a), mm.pte(s) !== 0]).toEqual([0, true]);
    expect(checkMmInvariants(k, { quiescent: true })).toEqual([]);
  });
});

describe('Mm.exit', () => {
  it('should tear the address space down only with the last user', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    mm.mmget();
    await mm.mmput();
    expect(mm.dead).toBe(false);
    await mm.exit();
    expect([mm.dead, mm.vmas.length, mm.pt.size, k.pages.allocated]).toEqual([true, 0, 0, 0]);
    await expect(mm.mmput()).rejects.toMatchObject({ code: 'ERR_STATE' });
    expect(mm.mmgetNotZero()).toBe(false);
  });

  it('should refuse, in a run, an mmput that would take the reference the running process holds, and accept one after an mmget', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const errors: unknown[] = [];
    k.spawn('driver', 'driver', async () => {
      mm.mmget();
      await mm.mmput();
      await mm.mmput().catch((e: unknown) => errors.push(e));
      await mm.exit();
    });
    expect((await k.run(firstRunnable)).status).toBe('done');
    expect(errors).toMatchObject([
      {
        code: 'ERR_STATE',
        message: expect.stringMatching(/^mmput: mm \d+ has mm_users 1, the reference its process holds until it exits/),
      },
    ]);
    expect(mm.dead).toBe(true);
  });
});
