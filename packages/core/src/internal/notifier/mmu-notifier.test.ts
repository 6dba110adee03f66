import { describe, expect, it } from 'vitest';
import { EAGAIN, EINVAL, ENOMEM } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MADV_DONTNEED } from '../mm/constants.js';
import { oomReap } from '../mm/exit.js';
import type { Mm } from '../mm/mm.js';
import type { ProfileName } from '../profile.js';
import { firstRunnable, seededDecisions } from '../sched/decisions.js';
import { eventsOf, mapAnon, runDone } from '../test-helpers.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from './interval-notifier.js';
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

  it('should WARN start-failed-blockable when a blockable invalidate_range_start fails', async () => {
    const { k, mm, base, ps } = await world();
    await mmuNotifierRegister(new MmuNotifier({ invalidateRangeStart: () => -EAGAIN }, 'rude'), mm);
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(eventsOf(k, 'warn').map((w) => w.what)).toEqual(['start-failed-blockable']);
  });

  it('should WARN start-failed-errno when a non-blockable start fails with another error than -EAGAIN, and not for -EAGAIN', async () => {
    for (const [r, warns] of [
      [-ENOMEM, ['start-failed-errno']],
      [-EAGAIN, []],
    ] as const) {
      const { k, mm } = await world();
      await mmuNotifierRegister(
        new MmuNotifier({ invalidateRangeStart: (_s, range) => (mmuNotifierRangeBlockable(range) ? 0 : r) }, 'oom'),
        mm,
      );
      k.spawn('oom', 'kernel', () => oomReap(mm));
      await runDone(k);
      expect(eventsOf(k, 'warn').map((w) => w.what)).toEqual(warns);
    }
  });

  it('should refuse a registration on an mm without users, where the kernel BUGs', async () => {
    const { mm } = await world();
    mm.users = 0;
    await expect(mmuNotifierRegister(new MmuNotifier({ invalidateRangeStart: () => 0 }, 'late'), mm)).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: expect.stringContaining('__mmu_notifier_register'),
    });
  });

  /**
   * A classic start under the OOM reaper trylocks a lock a fault task took and dropped: on an SMP
   * machine that task may hold it on another CPU. `spin` retries the trylock; `itree` also inserts
   * an interval notifier on the mm. Returns, per seed, whether the reaper reaped and how many of
   * the callback's trylocks failed.
   */
  async function classicTrylock(opts: { spin: boolean; itree: boolean }): Promise<{ reaped: boolean; failed: number }[]> {
    const out: { reaped: boolean; failed: number }[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const { k, mm } = await world();
      const lock = k.mutex('mmu_lock');
      let failed = 0;
      await mmuNotifierRegister(
        new MmuNotifier(
          {
            async invalidateRangeStart(_s, r) {
              if (mmuNotifierRangeBlockable(r)) return 0;
              while (!lock.tryLock()) {
                failed++;
                if (!opts.spin) return -EAGAIN;
                await k.yieldPoint();
              }
              lock.unlock();
              return 0;
            },
          },
          'kvm',
        ),
        mm,
      );
      if (opts.itree) await mmuIntervalNotifierInsert(new MmuIntervalNotifier('mirror'), mm, 0, 1 << 30, { invalidate: () => true });
      k.spawn('fault', 'driver', async () => {
        await lock.lock();
        lock.unlock();
        for (let i = 0; i < 4; i++) await k.yieldPoint();
      });
      let reaped: boolean | null = null;
      k.spawn('oom', 'kernel', async () => {
        await k.yieldPoint();
        reaped = await oomReap(mm);
      });
      await runDone(k, seededDecisions(seed));
      out.push({ reaped: reaped === true, failed });
    }
    return out;
  }

  it("should let a classic start's trylock under the OOM reaper fail on some schedules when no interval notifier is registered", async () => {
    const runs = await classicTrylock({ spin: false, itree: false });
    expect(runs.some((r) => r.reaped)).toBe(true);
    expect(runs.some((r) => !r.reaped && r.failed === 1)).toBe(true);
  });

  it("should keep a classic start's trylock uncontended when an interval notifier is registered (the tree's invalidation would stay open)", async () => {
    expect((await classicTrylock({ spin: false, itree: true })).every((r) => r.reaped && r.failed === 0)).toBe(true);
  });

  it('should let a classic start that spins on its trylock take the lock at its second try', async () => {
    const runs = await classicTrylock({ spin: true, itree: false });
    expect(runs.every((r) => r.reaped && r.failed <= 1)).toBe(true);
    expect(runs.some((r) => r.failed === 1)).toBe(true);
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

// mm/mmu_notifier.c, __mmu_notifier_invalidate_range_start: mn_itree_invalidate runs first and
// raises active_invalidate_ranges (invalidate_seq goes odd when an interval notifier overlaps);
// when mn_hlist_invalidate_range_start then fails, the error is returned as it is and nothing
// calls mn_itree_inv_end: __oom_reap_task_mm (mm/oom_kill.c) skips the VMA without
// mmu_notifier_invalidate_range_end. nouveau's classic callback (nouveau_svm.c,
// nouveau_svmm_invalidate_range_start) fails every non-blockable range.
describe('a classic invalidate_range_start that fails after the interval tree succeeded', () => {
  interface Outcome {
    status: string;
    reaped: boolean[];
    after: { active: number; seq: 'even' | 'odd' };
    reader: string[];
  }

  /** Two OOM reaps (oom_reap_task retries), then a GPU fault's read_begin and remove on the notifier. */
  async function reapThenFault(profile: ProfileName, classicFails: boolean, fix = false): Promise<Outcome> {
    const k = new Kernel({ trace: 'all', profile, ...(fix ? { profileOverrides: { classicFailureItree: 'end' as const } } : {}) });
    const mm = k.createMm();
    const base = await mapAnon(mm, 1);
    await mm.write(base, 1);
    await mmuNotifierRegister(
      new MmuNotifier({ invalidateRangeStart: (_s, r) => (classicFails && !mmuNotifierRangeBlockable(r) ? -EAGAIN : 0) }, 'svmm'),
      mm,
    );
    const mni = new MmuIntervalNotifier('fault window');
    await mmuIntervalNotifierInsert(mni, mm, base, k.pageSize, {
      invalidate(sub, _r, curSeq) {
        mmuIntervalSetSeq(sub, curSeq);
        return true;
      },
    });
    const subs = mm.notifierSubscriptions;
    if (subs === null) throw new Error('no subscriptions');
    const out: Outcome = { status: '', reaped: [], after: { active: 0, seq: 'even' }, reader: [] };
    k.spawn('oom', 'kernel', async () => {
      out.reaped.push(await oomReap(mm), await oomReap(mm));
      out.after = { active: subs.activeInvalidateRanges, seq: subs.invalidateSeq % 2 === 0 ? 'even' : 'odd' };
      k.spawn('gpu fault', 'driver', async () => {
        await mmuIntervalReadBegin(mni);
        out.reader.push('read_begin returned');
        await mmuIntervalNotifierRemove(mni);
        out.reader.push('removed');
      });
    });
    const r = await k.run(firstRunnable);
    out.status = r.status;
    return out;
  }

  for (const profile of ['6.1', 'latest'] as const) {
    it(`should leave the interval tree invalidating for ever on ${profile}: a later read_begin never returns`, async () => {
      const o = await reapThenFault(profile, true);
      expect(o.reaped).toEqual([false, false]);
      // One count per failed attempt, never given back; the notifier's set_seq made the seq odd.
      expect(o.after).toEqual({ active: 2, seq: 'odd' });
      expect(o.reader).toEqual([]);
      expect(o.status).toBe('deadlock');
    });

    it(`should end the invalidation on ${profile} when the classic callback does not fail`, async () => {
      const o = await reapThenFault(profile, false);
      expect(o.reaped).toEqual([true, true]);
      expect(o.after).toEqual({ active: 0, seq: 'even' });
      expect(o.reader).toEqual(['read_begin returned', 'removed']);
      expect(o.status).toBe('done');
    });
  }

  // nouveau's interval notifiers live only for one GPU fault: the reap may come when the tree is
  // empty (has_itree stays set). The leaked count alone then makes the next insert odd
  // (__mmu_interval_notifier_insert: invalidate_seq |= 1), and its read_begin waits for ever.
  async function faultAfterEmptyTreeReap(fix: boolean): Promise<{ status: string; after: string; reader: string[] }> {
    const k = new Kernel({ trace: 'all', profile: '6.1', ...(fix ? { profileOverrides: { classicFailureItree: 'end' as const } } : {}) });
    const mm = k.createMm();
    const base = await mapAnon(mm, 1);
    await mm.write(base, 1);
    await mmuNotifierRegister(
      new MmuNotifier({ invalidateRangeStart: (_s, r) => (mmuNotifierRangeBlockable(r) ? 0 : -EAGAIN) }, 'svmm'),
      mm,
    );
    const ops = {
      invalidate(sub: MmuIntervalNotifier, _r: unknown, curSeq: number) {
        mmuIntervalSetSeq(sub, curSeq);
        return true;
      },
    };
    const earlier = new MmuIntervalNotifier('earlier fault');
    const reader: string[] = [];
    let after = '';
    k.spawn('oom', 'kernel', async () => {
      await mmuIntervalNotifierInsert(earlier, mm, base, k.pageSize, ops);
      await mmuIntervalNotifierRemove(earlier);
      await oomReap(mm);
      const subs = mm.notifierSubscriptions;
      after = `active ${subs?.activeInvalidateRanges}, seq ${(subs?.invalidateSeq ?? 0) % 2 === 0 ? 'even' : 'odd'}`;
      k.spawn('gpu fault', 'driver', async () => {
        const mni = new MmuIntervalNotifier('next fault');
        await mmuIntervalNotifierInsert(mni, mm, base, k.pageSize, ops);
        await mmuIntervalReadBegin(mni);
        reader.push('read_begin returned');
        await mmuIntervalNotifierRemove(mni);
      });
    });
    const r = await k.run(firstRunnable);
    return { status: r.status, after, reader };
  }

  it('should make the next fault wait for ever after a reap that met an empty tree', async () => {
    expect(await faultAfterEmptyTreeReap(false)).toEqual({ status: 'deadlock', after: 'active 1, seq even', reader: [] });
  });

  it('should let the next fault run after the same reap on the fixed-kernel what-if', async () => {
    expect(await faultAfterEmptyTreeReap(true)).toEqual({ status: 'done', after: 'active 0, seq even', reader: ['read_begin returned'] });
  });

  it('should end the interval tree part on the fixed-kernel what-if (classicFailureItree: end)', async () => {
    const o = await reapThenFault('6.1', true, true);
    expect(o.reaped).toEqual([false, false]);
    expect(o.after).toEqual({ active: 0, seq: 'even' });
    expect(o.reader).toEqual(['read_begin returned', 'removed']);
    expect(o.status).toBe('done');
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

  // mm/mmu_notifier.c, mmu_notifier_unregister: "Wait for any running method to finish, of
  // course including ->release if it was run by mmu_notifier_release instead of us"
  // (synchronize_srcu). A driver frees what its callbacks use once unregister returns.
  it.each([
    ['waits for the', true],
    ['has nothing to wait for without a', false],
  ])('should return only after the release exit_mmap runs: unregister %s release in flight', async (_what, racing) => {
    const { k, mm } = await world();
    const lock = k.mutex('driver lock');
    const log: string[] = [];
    const sub = new MmuNotifier({
      // exit_mmap's call waits for the lock; unregister's own call does not.
      release: async () => {
        const byExit = k.sched.current.name === 'exit';
        if (byExit) await lock.lock();
        log.push(byExit ? 'exit release done' : 'release done');
        if (byExit) lock.unlock();
      },
    });
    await mmuNotifierRegister(sub, mm);
    k.spawn('holder', 'driver', async () => {
      await lock.lock();
      if (racing) k.spawn('exit', 'cpu', () => mm.exit());
      await k.msleep(10);
      lock.unlock();
    });
    k.spawn('closer', 'driver', async () => {
      await k.msleep(5);
      await mmuNotifierUnregister(sub, mm);
      log.push('unregister returned');
    });
    await runDone(k);
    expect(log).toEqual(racing ? ['release done', 'exit release done', 'unregister returned'] : ['release done', 'unregister returned']);
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

  it('should free the subscription at the last put only after the methods in flight returned (call_srcu)', async () => {
    const { k, mm, base, ps } = await world();
    const lock = k.mutex('driver lock');
    const log: string[] = [];
    const ops = {
      invalidateRangeStart: async () => {
        await lock.lock();
        log.push('start returned');
        lock.unlock();
        return 0;
      },
      allocNotifier: () => new MmuNotifier({}, 'shared'),
      freeNotifier: () => {
        log.push('freed');
      },
    };
    const sub = await mmuNotifierGet(ops, mm);
    k.spawn('holder', 'driver', async () => {
      await lock.lock();
      k.spawn('unmapper', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
      await k.msleep(5);
      mmuNotifierPut(sub);
      log.push('put');
      await k.msleep(5);
      lock.unlock();
    });
    await runDone(k);
    expect(log).toEqual(['put', 'start returned', 'freed']);
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
