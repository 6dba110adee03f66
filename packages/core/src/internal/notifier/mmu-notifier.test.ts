import { describe, expect, it } from 'vitest';
import { EAGAIN, EINVAL } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MADV_DONTNEED } from '../mm/constants.js';
import { oomReap } from '../mm/exit.js';
import type { Mm } from '../mm/mm.js';
import { eventsOf, mapAnon, runDone } from '../test-helpers.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert } from './interval-notifier.js';
import {
  MmuNotifier,
  mmuNotifierArchInvalidateSecondaryTlbs,
  mmuNotifierGet,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierPut,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
  mmuNotifierRegisterLocked,
  mmuNotifierUnregister,
} from './mmu-notifier.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
  mmuNotifierRangeBlockable,
} from './range.js';

async function world(): Promise<{ k: Kernel; mm: Mm; base: number; ps: number }> {
  const k = new Kernel({ trace: 'all' });
  const mm = k.createMm();
  const base = await mapAnon(mm, 4);
  await mm.write(base, 1);
  return { k, mm, base, ps: k.pageSize };
}

describe('mmuNotifierRegister', () => {
  it('should call invalidate_range_start and _end around every invalidation, newest registration first', async () => {
    const { mm, base, ps } = await world();
    const log: string[] = [];
    for (const name of ['old', 'new']) {
      expect(
        await mmuNotifierRegister(
          new MmuNotifier(
            {
              invalidateRangeStart(_s, r) {
                log.push(`${name} start ${mmuNotifierRangeBlockable(r) ? 'blockable' : 'atomic'}`);
                return 0;
              },
              invalidateRangeEnd() {
                log.push(`${name} end`);
              },
            },
            name,
          ),
          mm,
        ),
      ).toBe(0);
    }
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(log).toEqual(['new start blockable', 'old start blockable', 'new end', 'old end']);
  });

  it('should refuse a second registration of the same subscription', async () => {
    const { mm } = await world();
    const sub = new MmuNotifier({});
    await mmuNotifierRegister(sub, mm);
    await expect(mmuNotifierRegister(sub, mm)).rejects.toMatchObject({ code: 'ERR_DOUBLE_INSERT' });
  });

  it('should return -EINVAL with a WARN for ops with both arch_invalidate_secondary_tlbs and start/end', async () => {
    const { k, mm } = await world();
    const sub = new MmuNotifier({ archInvalidateSecondaryTlbs() {}, invalidateRangeStart: () => 0 });
    expect(await mmuNotifierRegister(sub, mm)).toBe(-EINVAL);
    expect(eventsOf(k, 'warn').map((w) => w.what)).toEqual(['register-both']);
  });

  it('should refuse ops with an unknown member', async () => {
    const { mm } = await world();
    const sub = new MmuNotifier({ invalidate: () => true } as never);
    await expect(mmuNotifierRegister(sub, mm)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
  });

  it('should require the mmap write lock in the _locked form', async () => {
    const { mm } = await world();
    expect(() => mmuNotifierRegisterLocked(new MmuNotifier({}), mm)).toThrow(expect.objectContaining({ code: 'ERR_NOT_LOCKED' }));
  });
});

describe('mmu_notifier_invalidate_range_start_nonblock', () => {
  it('should call _end of the subscriptions that succeeded when one answers -EAGAIN, and abort', async () => {
    const { k, mm } = await world();
    const log: string[] = [];
    await mmuNotifierRegister(
      new MmuNotifier(
        {
          invalidateRangeStart: () => {
            log.push('ok start');
            return 0;
          },
          invalidateRangeEnd: () => {
            log.push('ok end');
          },
        },
        'ok',
      ),
      mm,
    );
    await mmuNotifierRegister(
      new MmuNotifier(
        {
          invalidateRangeStart: (_s, r) => {
            log.push('busy start');
            return mmuNotifierRangeBlockable(r) ? 0 : -EAGAIN;
          },
        },
        'busy',
      ),
      mm,
    );
    let reaped: boolean | null = null;
    k.spawn('oom', 'kernel', async () => {
      reaped = await oomReap(mm);
    });
    await runDone(k);
    expect(reaped).toBe(false);
    expect(log).toEqual(['busy start', 'ok start', 'ok end']);
    expect(eventsOf(k, 'warn')).toEqual([]);
    expect(eventsOf(k, 'inv-end').at(-1)?.aborted).toBe(true);
    expect(mm.pt.size).toBe(1);
  });

  it('should send the OOM reaper invalidation as MMU_NOTIFY_UNMAP (__oom_reap_task_mm)', async () => {
    const { k, mm } = await world();
    k.spawn('oom', 'kernel', () => oomReap(mm));
    await runDone(k);
    expect(eventsOf(k, 'inv-start').map((e) => [e.event, e.blockable])).toEqual([[MMU_NOTIFY_UNMAP, false]]);
    expect(mm.pt.size).toBe(0);
  });

  it('should WARN start-failed when a blockable invalidate_range_start fails', async () => {
    const { k, mm, base, ps } = await world();
    await mmuNotifierRegister(new MmuNotifier({ invalidateRangeStart: () => -EAGAIN }, 'rude'), mm);
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(eventsOf(k, 'warn').map((w) => w.what)).toEqual(['start-failed']);
  });

  it('should WARN start-failed-with-end when a failing subscription also implements invalidate_range_end', async () => {
    const { k, mm } = await world();
    await mmuNotifierRegister(
      new MmuNotifier({ invalidateRangeStart: (_s, r) => (mmuNotifierRangeBlockable(r) ? 0 : -EAGAIN), invalidateRangeEnd() {} }, 'both'),
      mm,
    );
    k.spawn('oom', 'kernel', () => oomReap(mm));
    await runDone(k);
    expect(eventsOf(k, 'warn').map((w) => w.what)).toEqual(['start-failed-with-end']);
  });
});

describe('mmuNotifierRelease (exit_mmap)', () => {
  it('should send RELEASE to interval notifiers, then release to classic ones, then UNMAP to intervals only', async () => {
    const { k, mm, base, ps } = await world();
    const log: string[] = [];
    await mmuNotifierRegister(
      new MmuNotifier({
        release: () => {
          log.push('classic release');
        },
        invalidateRangeStart: () => {
          log.push('classic start');
          return 0;
        },
      }),
      mm,
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('i'), mm, base, ps, {
      invalidate(_m, r) {
        log.push(`interval ${r.event === MMU_NOTIFY_RELEASE ? 'RELEASE' : r.event === MMU_NOTIFY_UNMAP ? 'UNMAP' : r.event}`);
        return true;
      },
    });
    k.spawn('exit', 'cpu', () => mm.exit());
    await runDone(k);
    expect(log).toEqual(['interval RELEASE', 'classic release', 'interval UNMAP']);
    expect(mm.dead).toBe(true);
    expect(mm.pt.size).toBe(0);
  });
});

describe('mmuNotifierUnregister', () => {
  it('should call release once and stop further callbacks', async () => {
    const { k, mm, base, ps } = await world();
    const log: string[] = [];
    const sub = new MmuNotifier({
      release: () => {
        log.push('release');
      },
      invalidateRangeStart: () => {
        log.push('start');
        return 0;
      },
    });
    await mmuNotifierRegister(sub, mm);
    k.spawn('t', 'driver', async () => {
      await mmuNotifierUnregister(sub, mm);
      await mm.madvise(base, ps, MADV_DONTNEED);
    });
    await runDone(k);
    expect(log).toEqual(['release']);
    expect(sub.hashed).toBe(false);
  });

  it('should throw ERR_NOT_INSERTED for a subscription of another mm', async () => {
    const { k, mm } = await world();
    await expect(mmuNotifierUnregister(new MmuNotifier({}), k.createMm())).rejects.toMatchObject({ code: 'ERR_NOT_INSERTED' });
    expect(mm.count).toBe(1);
  });
});

describe('mmuNotifierGet', () => {
  it('should share one subscription per ops and free it at the last put', async () => {
    const { mm } = await world();
    const freed: MmuNotifier[] = [];
    const ops = {
      allocNotifier: () => new MmuNotifier({}, 'shared'),
      freeNotifier: (s: MmuNotifier) => {
        freed.push(s);
      },
    };
    const a = await mmuNotifierGet(ops, mm);
    const b = await mmuNotifierGet(ops, mm);
    expect(b).toBe(a);
    expect(a.users).toBe(2);
    mmuNotifierPut(a);
    expect(freed).toEqual([]);
    mmuNotifierPut(b);
    expect(freed).toEqual([a]);
    expect(() => mmuNotifierPut(a)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });
});

describe('mmuNotifierArchInvalidateSecondaryTlbs', () => {
  it('should call every subscription with the flushed range and record a promise as sleeping', async () => {
    const { k, mm } = await world();
    const seen: [number, number][] = [];
    await mmuNotifierRegister(
      new MmuNotifier({
        archInvalidateSecondaryTlbs(_s, _m, start, end) {
          seen.push([start, end]);
          return Promise.resolve() as unknown as undefined;
        },
      }),
      mm,
    );
    mmuNotifierArchInvalidateSecondaryTlbs(mm, 0x1000, 0x3000);
    expect(seen).toEqual([[0x1000, 0x3000]]);
    expect(eventsOf(k, 'sleep-in-atomic')).toHaveLength(1);
  });
});

describe('mmuNotifierInvalidateRangeStart', () => {
  it('should force BLOCKABLE, and the _nonblock form should clear it, whatever the range was built with', async () => {
    const { mm } = await world();
    const seen: boolean[] = [];
    await mmuNotifierRegister(
      new MmuNotifier({
        invalidateRangeStart: (_s, r) => {
          seen.push(mmuNotifierRangeBlockable(r));
          return 0;
        },
      }),
      mm,
    );
    const a = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, 0, 4096);
    await mmuNotifierInvalidateRangeStart(a);
    await mmuNotifierInvalidateRangeEnd(a);
    const b = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, 4096);
    expect(await mmuNotifierInvalidateRangeStartNonblock(b)).toBe(0);
    await mmuNotifierInvalidateRangeEnd(b);
    expect(seen).toEqual([true, false]);
  });
});
