import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { EOVERFLOW, type HmmlabError } from '../errors.js';
import { Kernel } from '../kernel.js';
import { MADV_DONTNEED, PROT_READ, PROT_WRITE, ULONG_MAX } from '../mm/constants.js';
import { oomReap } from '../mm/exit.js';
import type { Mm } from '../mm/mm.js';
import { arrayDecisions, firstRunnable } from '../sched/decisions.js';
import type { DriverCallbackError } from '../sched/scheduler.js';
import { eventsOf, mapAnon, runDone } from '../test-helpers.js';
import {
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierInsertLocked,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from './interval-notifier.js';
import { MmuNotifier, mmuNotifierRegister } from './mmu-notifier.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_VMA, type MmuNotifierRange, mmuNotifierRangeBlockable } from './range.js';
import type { MmuNotifierSubscriptions } from './subscriptions.js';

interface Call {
  sub: string;
  event: number;
  start: number;
  end: number;
  curSeq: number;
  blockable: boolean;
  globalSeq: number;
}

/** A kernel with one mm and `pages` populated anonymous pages at `base`. */
async function world(pages = 8): Promise<{ k: Kernel; mm: Mm; base: number; ps: number }> {
  const k = new Kernel({ trace: 'all' });
  const mm = k.createMm();
  const base = await mapAnon(mm, pages);
  for (let i = 0; i < pages; i++) await mm.write(base + i * k.pageSize, i + 1);
  return { k, mm, base, ps: k.pageSize };
}

function subsOf(mm: Mm): MmuNotifierSubscriptions {
  return mm.notifierSubscriptions as MmuNotifierSubscriptions;
}

/** Ops that record each call, call `set_seq` and return `result`. */
function recording(calls: Call[], mm: Mm, result: (range: MmuNotifierRange) => boolean = () => true): MmuIntervalNotifierOps {
  return {
    invalidate(mni, range, curSeq) {
      calls.push({
        sub: mni.name,
        event: range.event,
        start: range.start,
        end: range.end,
        curSeq,
        blockable: mmuNotifierRangeBlockable(range),
        globalSeq: subsOf(mm).invalidateSeq,
      });
      mmuIntervalSetSeq(mni, curSeq);
      return result(range);
    },
  };
}

describe('mmuIntervalNotifierInsert', () => {
  it('should give a new notifier an odd seq one below the even global seq', async () => {
    const { mm, base, ps } = await world();
    const sub = new MmuIntervalNotifier('a');
    expect(await mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm))).toBe(0);
    const g = subsOf(mm).invalidateSeq;
    expect(g % 2).toBe(0);
    expect(sub.invalidateSeq).toBe(g - 1);
    expect(sub.inTree).toBe(true);
  });

  it.each([
    ['a zero length', 0x10000, 0],
    ['a range that wraps past ULONG_MAX', ULONG_MAX - 10, 100],
  ])('should return -EOVERFLOW for %s', async (_what, start, length) => {
    const { mm } = await world(1);
    const sub = new MmuIntervalNotifier();
    expect(await mmuIntervalNotifierInsert(sub, mm, start, length, recording([], mm))).toBe(-EOVERFLOW);
    expect(sub.inserted).toBe(false);
  });

  it('should throw ERR_DOUBLE_INSERT for a notifier that is already inserted', async () => {
    const { mm, base, ps } = await world(1);
    const sub = new MmuIntervalNotifier('twice');
    await mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm));
    await expect(mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm))).rejects.toMatchObject({
      code: 'ERR_DOUBLE_INSERT',
    });
  });

  it('should refuse the first insert on an mm without users: its registration BUGs in the kernel', async () => {
    const { mm, base, ps } = await world(1);
    mm.users = 0;
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier('late'), mm, base, ps, recording([], mm))).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: expect.stringContaining('mm_users 0'),
    });
  });

  it('should return -EINVAL with a WARN when mm_users is zero', async () => {
    const { k, mm, base, ps } = await world(1);
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('first'), mm, base, ps, recording([], mm));
    mm.users = 0;
    expect(await mmuIntervalNotifierInsert(new MmuIntervalNotifier('late'), mm, base, ps, recording([], mm))).toBe(-22);
    expect(eventsOf(k, 'warn').map((w) => w.what)).toContain('insert-dead-mm');
  });

  it.each([
    ['an unknown member', { invalidate: () => true, invalidateRangeStart: () => 0 }],
    ['neither invalidate nor invalidateStart', {}],
    ['invalidateStart without invalidateFinish', { invalidateStart: () => ({ ok: true, finish: null }) }],
  ])('should refuse ops with %s', async (_what, ops) => {
    const { mm, base, ps } = await world(1);
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, base, ps, ops as MmuIntervalNotifierOps)).rejects.toMatchObject({
      code: 'ERR_BAD_ARGUMENT',
    });
  });

  it('should require the mmap write lock in the _locked form', async () => {
    const { mm, base, ps } = await world(1);
    expect(() => mmuIntervalNotifierInsertLocked(new MmuIntervalNotifier(), mm, base, ps, recording([], mm))).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_LOCKED' }),
    );
    await mm.mmapLock.downWrite();
    expect(mmuIntervalNotifierInsertLocked(new MmuIntervalNotifier(), mm, base, ps, recording([], mm))).toBe(0);
    mm.mmapLock.upWrite();
  });

  it('should defer an insert made while an interval is being invalidated until the last inv_end', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const log: string[] = [];
    const late = new MmuIntervalNotifier('late');
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('blocker'), mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        await gate.waitForCompletion();
        return true;
      },
    });
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('inserter', 'driver', async () => {
      await mmuIntervalNotifierInsert(late, mm, base, 4 * ps, recording([], mm));
      log.push(`inserted: inTree ${late.inTree}, seq ${late.invalidateSeq === subsOf(mm).invalidateSeq ? '==' : '!='} global`);
      await mmuIntervalReadBegin(late);
      log.push(`read_begin returned: inTree ${late.inTree}, global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}`);
    });
    k.spawn('opener', 'driver', async () => {
      await k.msleep(5);
      log.push('gate opened');
      gate.complete();
    });
    await runDone(k);
    expect(log).toEqual(['inserted: inTree false, seq == global', 'gate opened', 'read_begin returned: inTree true, global even']);
  });

  it('should insert at once, making the seq odd, while only a non-intersecting invalidation runs', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const seen: string[] = [];
    const sub = new MmuIntervalNotifier('late');
    // A classic notifier holds an invalidation open that hits no interval.
    await mmuNotifierRegister(
      new MmuNotifier({
        async invalidateRangeStart() {
          await gate.waitForCompletion();
          return 0;
        },
      }),
      mm,
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('far'), mm, base + 7 * ps, ps, recording([], mm));
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('inserter', 'driver', async () => {
      await k.yieldPoint();
      seen.push(`before: active ${subsOf(mm).activeInvalidateRanges}, global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}`);
      await mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm));
      seen.push(
        `after: inTree ${sub.inTree}, global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}, sub==global ${sub.invalidateSeq === subsOf(mm).invalidateSeq}`,
      );
      gate.complete();
    });
    await runDone(k);
    expect(seen).toEqual(['before: active 1, global even', 'after: inTree true, global odd, sub==global true']);
    expect(subsOf(mm).invalidateSeq % 2).toBe(0);
  });
});

describe('mmuIntervalNotifierRemove', () => {
  it('should remove a notifier at once when no invalidation runs', async () => {
    const { mm, base, ps } = await world();
    const calls: Call[] = [];
    const sub = new MmuIntervalNotifier('gone');
    await mmuIntervalNotifierInsert(sub, mm, base, ps, recording(calls, mm));
    await mmuIntervalNotifierRemove(sub);
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(calls).toEqual([]);
    expect(sub.inserted).toBe(false);
    expect(mm.count).toBe(1);
  });

  it('should wait for a running invalidation and take effect at its end', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const calls: Call[] = [];
    const log: string[] = [];
    const victim = new MmuIntervalNotifier('victim');
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('blocker'), mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        await gate.waitForCompletion();
        return true;
      },
    });
    await mmuIntervalNotifierInsert(victim, mm, base + 4 * ps, ps, recording(calls, mm));
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('remover', 'driver', async () => {
      await k.yieldPoint();
      const p = mmuIntervalNotifierRemove(victim);
      log.push(`remove called: inTree ${victim.inTree}`);
      await p;
      log.push(`remove returned: inTree ${victim.inTree}, global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}`);
      await mm.madvise(base + 4 * ps, ps, MADV_DONTNEED);
    });
    k.spawn('opener', 'driver', async () => {
      await k.msleep(5);
      log.push('gate opened');
      gate.complete();
    });
    await runDone(k);
    expect(log).toEqual(['remove called: inTree true', 'gate opened', 'remove returned: inTree false, global even']);
    expect(calls).toEqual([]);
  });

  it('should cancel a deferred insert without waiting', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const log: string[] = [];
    const calls: Call[] = [];
    const sub = new MmuIntervalNotifier('fleeting');
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('blocker'), mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        await gate.waitForCompletion();
        return true;
      },
    });
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('driver', 'driver', async () => {
      await k.yieldPoint();
      await mmuIntervalNotifierInsert(sub, mm, base, 4 * ps, recording(calls, mm));
      await mmuIntervalNotifierRemove(sub);
      log.push(`removed while global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}`);
      gate.complete();
    });
    await runDone(k);
    expect(log).toEqual(['removed while global odd']);
    expect(sub.inTree).toBe(false);
    expect(
      subsOf(mm)
        .itree.all()
        .map((s) => s.name),
    ).toEqual(['blocker']);
  });

  it('should throw ERR_IN_CALLBACK when called from an invalidate callback', async () => {
    const { k, mm, base, ps } = await world();
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('selfish'), mm, base, ps, {
      async invalidate(mni) {
        await mmuIntervalNotifierRemove(mni);
        return true;
      },
    });
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('error');
    expect(r.failedContext).toMatch(/^interval notifier "selfish" invalidate/);
    expect(((r.error as DriverCallbackError).cause as HmmlabError).code).toBe('ERR_IN_CALLBACK');
  });

  it('should throw ERR_NOT_INSERTED for a notifier that was never inserted', async () => {
    await expect(mmuIntervalNotifierRemove(new MmuIntervalNotifier('never'))).rejects.toMatchObject({ code: 'ERR_NOT_INSERTED' });
  });
});

describe('mn_itree_invalidate (rule 1: the seq protocol)', () => {
  it('should pass one odd cur_seq, equal to the global seq, to every intersecting interval', async () => {
    const { mm, base, ps } = await world();
    const calls: Call[] = [];
    for (const [name, off] of [
      ['a', 0],
      ['b', 2],
      ['c', 3],
    ] as const) {
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier(name), mm, base + off * ps, 2 * ps, recording(calls, mm));
    }
    await mm.madvise(base, 4 * ps, MADV_DONTNEED);
    expect(calls.map((c) => c.sub)).toEqual(['a', 'b', 'c']);
    const cur = calls[0]?.curSeq as number;
    expect(cur % 2).toBe(1);
    expect(calls.every((c) => c.curSeq === cur && c.globalSeq === cur)).toBe(true);
    expect(subsOf(mm).invalidateSeq).toBe(cur + 1);
  });

  it('should leave the seq even for an invalidation that intersects no interval', async () => {
    const { mm, base, ps } = await world();
    const seen: [number, number][] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('far'), mm, base + 6 * ps, ps, recording([], mm));
    await mmuNotifierRegister(
      new MmuNotifier({
        invalidateRangeStart() {
          seen.push([subsOf(mm).invalidateSeq % 2, subsOf(mm).activeInvalidateRanges]);
          return 0;
        },
      }),
      mm,
    );
    const before = subsOf(mm).invalidateSeq;
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(seen).toEqual([[0, 1]]);
    expect(subsOf(mm).invalidateSeq).toBe(before);
  });

  it('should keep the seq odd until the last of two concurrent invalidations ends', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const calls: Call[] = [];
    const log: string[] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('slow'), mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        await gate.waitForCompletion();
        return true;
      },
    });
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('fast'), mm, base + 4 * ps, ps, recording(calls, mm));
    k.spawn('slow zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('fast zap', 'cpu', async () => {
      await mm.madvise(base + 4 * ps, ps, MADV_DONTNEED);
      log.push(`fast done: global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'}, active ${subsOf(mm).activeInvalidateRanges}`);
      gate.complete();
    });
    await runDone(k);
    expect(log).toEqual(['fast done: global odd, active 1']);
    expect(subsOf(mm).invalidateSeq % 2).toBe(0);
    expect(subsOf(mm).activeInvalidateRanges).toBe(0);
  });

  it.each([
    ['the page before the interval', -1, false],
    ['the first page of the interval', 0, true],
    ['the last page of the interval', 1, true],
    ['the page after the interval', 2, false],
  ])('should call an interval notifier for an invalidation of %s: %s', async (_what, page, called) => {
    const { mm, base, ps } = await world();
    const calls: Call[] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('two pages'), mm, base + 2 * ps, 2 * ps, recording(calls, mm));
    await mm.madvise(base + (2 + page) * ps, ps, MADV_DONTNEED);
    expect(calls.length > 0).toBe(called);
  });

  it('should call an interval whose inclusive last byte is the first byte of the range', async () => {
    const { mm, base, ps } = await world();
    const calls: Call[] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('edge'), mm, base, ps + 1, recording(calls, mm));
    await mm.madvise(base + ps, ps, MADV_DONTNEED);
    expect(calls).toHaveLength(1);
  });
});

describe('mmuIntervalReadBegin (rule 2)', () => {
  it("should return the notifier's own seq without sleeping when no invalidation ran", async () => {
    const { k, mm, base, ps } = await world();
    const sub = new MmuIntervalNotifier('a');
    await mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm));
    let seq = -1;
    let retry: boolean | null = null;
    k.spawn('reader', 'driver', async () => {
      seq = await mmuIntervalReadBegin(sub);
      retry = mmuIntervalReadRetry(sub, seq);
    });
    await runDone(k);
    expect(seq).toBe(sub.invalidateSeq);
    expect(seq).not.toBe(subsOf(mm).invalidateSeq);
    expect(retry).toBe(false);
  });

  it("should record the sequence a read_retry compared, apart from the event's place in the trace", async () => {
    const { k, mm, base, ps } = await world();
    const sub = new MmuIntervalNotifier('a');
    await mmuIntervalNotifierInsert(sub, mm, base, ps, recording([], mm));
    let seq = -1;
    k.spawn('reader', 'driver', async () => {
      seq = await mmuIntervalReadBegin(sub);
      mmuIntervalReadRetry(sub, seq);
      mmuIntervalCheckRetry(sub, seq + 2);
    });
    await runDone(k);
    const reads = k.trace.events().filter((e) => e.type === 'read-retry');
    expect(reads.map((e) => [e.readSeq, e.atomic])).toEqual([
      [seq, false],
      [seq + 2, true],
    ]);
    // The trace's own sequence numbers go on counting events.
    expect(reads.map((e) => e.seq)).toEqual(reads.map((e) => k.trace.events().indexOf(e)));
  });

  it('should block while the callback already ran set_seq for an unfinished invalidation, until it ends', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const sub = new MmuIntervalNotifier('a');
    const log: string[] = [];
    await mmuIntervalNotifierInsert(sub, mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        log.push('set_seq');
        await gate.waitForCompletion();
        return true;
      },
    });
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('reader', 'driver', async () => {
      await k.yieldPoint();
      const seq = await mmuIntervalReadBegin(sub);
      log.push(
        `read_begin returned ${seq === sub.invalidateSeq ? 'the sub seq' : 'something else'}, inv ${eventsOf(k, 'inv-end').length > 0 ? 'ended' : 'running'}`,
      );
    });
    k.spawn('opener', 'driver', async () => {
      await k.msleep(5);
      log.push('gate opened');
      gate.complete();
    });
    await runDone(k);
    expect(log).toEqual(['set_seq', 'gate opened', 'read_begin returned the sub seq, inv ended']);
  });

  it('should not block when the running invalidation has not reached this notifier yet, and retry after', async () => {
    const { k, mm, base, ps } = await world();
    const gate = k.completion('gate');
    const first = new MmuIntervalNotifier('first');
    const second = new MmuIntervalNotifier('second');
    const log: string[] = [];
    await mmuIntervalNotifierInsert(first, mm, base, ps, {
      async invalidate(mni, _r, cur) {
        mmuIntervalSetSeq(mni, cur);
        await gate.waitForCompletion();
        return true;
      },
    });
    await mmuIntervalNotifierInsert(second, mm, base, ps, recording([], mm));
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    k.spawn('reader', 'driver', async () => {
      await k.yieldPoint();
      const seq = await mmuIntervalReadBegin(second);
      log.push(`begin: inv ${eventsOf(k, 'inv-end').length > 0 ? 'ended' : 'running'}, retry ${mmuIntervalReadRetry(second, seq)}`);
      gate.complete();
      await k.msleep(5);
      log.push(`later: retry ${mmuIntervalReadRetry(second, seq)}, check ${mmuIntervalCheckRetry(second, seq)}`);
    });
    await runDone(k);
    expect(log).toEqual(['begin: inv running, retry false', 'later: retry true, check true']);
  });

  it('should never retry for an invalidation whose callback returns without set_seq', async () => {
    const { k, mm, base, ps } = await world();
    const sub = new MmuIntervalNotifier('filter');
    await mmuIntervalNotifierInsert(sub, mm, base, ps, { invalidate: () => true });
    let retry: boolean | null = null;
    k.spawn('reader', 'driver', async () => {
      const seq = await mmuIntervalReadBegin(sub);
      await mm.madvise(base, ps, MADV_DONTNEED);
      retry = mmuIntervalReadRetry(sub, seq);
    });
    await runDone(k);
    expect(retry).toBe(false);
    expect(eventsOf(k, 'inv-start').length).toBe(1);
  });

  it('should throw ERR_NOT_INSERTED for a notifier that is not inserted', async () => {
    await expect(mmuIntervalReadBegin(new MmuIntervalNotifier('x'))).rejects.toMatchObject({ code: 'ERR_NOT_INSERTED' });
  });
});

describe('mmu_notifier_invalidate_range_start/end (rule 3: call order)', () => {
  it('should call interval notifiers in tree order, then classic invalidate_range_start', async () => {
    const { k, mm, base, ps } = await world();
    const order: string[] = [];
    const ops = (name: string): MmuIntervalNotifierOps => ({
      invalidate() {
        order.push(name);
        return true;
      },
    });
    await mmuNotifierRegister(
      new MmuNotifier(
        {
          invalidateRangeStart() {
            order.push('classic start');
            return 0;
          },
          invalidateRangeEnd() {
            order.push(`classic end (global ${subsOf(mm).invalidateSeq % 2 === 0 ? 'even' : 'odd'})`);
          },
        },
        'classic',
      ),
      mm,
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('high'), mm, base + 3 * ps, ps, ops('high'));
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('low'), mm, base, ps, ops('low'));
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('low2'), mm, base, 2 * ps, ops('low2'));
    await mm.madvise(base, 4 * ps, MADV_DONTNEED);
    expect(order).toEqual(['low', 'low2', 'high', 'classic start', 'classic end (global even)']);
    expect(
      eventsOf(k, 'inv-callback')
        .filter((e) => e.phase === 'enter')
        .map((e) => e.op),
    ).toEqual(['invalidate', 'invalidate', 'invalidate', 'invalidate-range-start', 'invalidate-range-end']);
  });
});

describe('mmuNotifierRangeBlockable (rule 4)', () => {
  it('should see every invalidation of ordinary mm operations as blockable', async () => {
    const { mm, base, ps } = await world();
    const calls: Call[] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('all'), mm, base, 8 * ps, recording(calls, mm));
    await mm.mprotect(base, 8 * ps, PROT_READ);
    await mm.madvise(base, 8 * ps, MADV_DONTNEED);
    await mm.munmap(base, 8 * ps);
    expect(calls.length).toBe(3);
    expect(calls.every((c) => c.blockable)).toBe(true);
  });

  it('should give the OOM reaper a non-blockable range whose callbacks must not sleep', async () => {
    const { k, mm, base, ps } = await world();
    const calls: Call[] = [];
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('sleepy'), mm, base, ps, {
      async invalidate(mni, range, cur) {
        calls.push({
          sub: mni.name,
          event: range.event,
          start: range.start,
          end: range.end,
          curSeq: cur,
          blockable: mmuNotifierRangeBlockable(range),
          globalSeq: 0,
        });
        await k.msleep(1);
        mmuIntervalSetSeq(mni, cur);
        return true;
      },
    });
    let reaped: boolean | null = null;
    k.spawn('oom', 'kernel', async () => {
      reaped = await oomReap(mm);
    });
    await runDone(k);
    expect(reaped).toBe(true);
    expect(calls.map((c) => c.blockable)).toEqual([false]);
    expect(eventsOf(k, 'sleep-in-atomic')).toEqual([
      expect.objectContaining({ what: 'msleep', context: expect.stringContaining('"sleepy"') }),
    ]);
  });

  it('should abort a non-blockable invalidation with -EAGAIN on false: skip the rest, leave the PTEs, no classic callbacks', async () => {
    const { k, mm, base, ps } = await world();
    const calls: Call[] = [];
    const classic: string[] = [];
    await mmuNotifierRegister(
      new MmuNotifier({
        invalidateRangeStart() {
          classic.push('start');
          return 0;
        },
      }),
      mm,
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('ok'), mm, base, ps, recording(calls, mm));
    await mmuIntervalNotifierInsert(
      new MmuIntervalNotifier('refuses'),
      mm,
      base + ps,
      ps,
      recording(calls, mm, (r) => mmuNotifierRangeBlockable(r)),
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('skipped'), mm, base + 2 * ps, ps, recording(calls, mm));
    const ptesBefore = [...mm.pt.entries()];
    let reaped: boolean | null = null;
    k.spawn('oom', 'kernel', async () => {
      reaped = await oomReap(mm);
    });
    await runDone(k);
    expect(reaped).toBe(false);
    expect(calls.map((c) => c.sub)).toEqual(['ok', 'refuses']);
    expect(classic).toEqual([]);
    expect([...mm.pt.entries()]).toEqual(ptesBefore);
    const inv = eventsOf(k, 'inv-start').at(-1)?.inv;
    expect(eventsOf(k, 'pte').filter((e) => e.inv === inv)).toEqual([]);
    expect(eventsOf(k, 'inv-end').at(-1)).toMatchObject({ inv, aborted: true });
    expect(subsOf(mm).invalidateSeq % 2).toBe(0);
    expect(subsOf(mm).activeInvalidateRanges).toBe(0);
  });

  it('should WARN false-while-blockable and carry on when a blockable callback returns false', async () => {
    const { k, mm, base, ps } = await world();
    const calls: Call[] = [];
    await mmuIntervalNotifierInsert(
      new MmuIntervalNotifier('liar'),
      mm,
      base,
      ps,
      recording(calls, mm, () => false),
    );
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('next'), mm, base, ps, recording(calls, mm));
    expect(await mm.madvise(base, ps, MADV_DONTNEED)).toBe(0);
    expect(calls.map((c) => c.sub)).toEqual(['liar', 'next']);
    expect(eventsOf(k, 'warn')).toEqual([expect.objectContaining({ what: 'false-while-blockable' })]);
    expect(mm.pte(base)).toBe(0);
  });

  it('should stop the run with status error when a callback returns a non-boolean', async () => {
    const { k, mm, base, ps } = await world();
    await mmuIntervalNotifierInsert(new MmuIntervalNotifier('sloppy'), mm, base, ps, {
      invalidate: () => undefined as unknown as boolean,
    });
    k.spawn('zap', 'cpu', () => mm.madvise(base, ps, MADV_DONTNEED));
    const r = await k.run(firstRunnable);
    expect(r.status).toBe('error');
    expect(String((r.error as Error).message)).toContain('must return true or false');
  });
});

describe('two-pass interval notifiers', () => {
  it('should call every invalidateFinish after all first passes, in order', async () => {
    const { mm, base, ps } = await world();
    const order: string[] = [];
    for (const name of ['a', 'b']) {
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier(name), mm, base, ps, {
        invalidateStart(mni, _r, cur) {
          order.push(`start ${name}`);
          mmuIntervalSetSeq(mni, cur);
          return { ok: true, finish: {} };
        },
        invalidateFinish(f) {
          order.push(`finish ${f.notifier?.name}`);
        },
      });
    }
    await mm.madvise(base, ps, MADV_DONTNEED);
    expect(order).toEqual(['start a', 'start b', 'finish a', 'finish b']);
  });
});

describe('mmuIntervalReadRetry (property)', () => {
  const op = fc.record({
    kind: fc.constantFrom('dontneed', 'mprotect'),
    page: fc.integer({ min: 0, max: 7 }),
    npages: fc.integer({ min: 1, max: 4 }),
    yields: fc.integer({ min: 0, max: 2 }),
  });
  test.prop(
    [
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(op, { minLength: 1, maxLength: 4 }),
      fc.array(op, { maxLength: 3 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      fc.array(fc.nat({ max: 5 }), { maxLength: 80 }),
    ],
    { numRuns: 120 },
  )(
    'should be true exactly when an intersecting invalidation ran set_seq after the read began',
    async (subPage, subPages, opsA, opsB, readerYields, filterProtection, decisions) => {
      const { k, mm, base, ps } = await world();
      const lock = k.mutex('driver lock');
      const sub = new MmuIntervalNotifier('mirror');
      await mmuIntervalNotifierInsert(sub, mm, base + subPage * ps, Math.min(subPages, 8 - subPage) * ps, {
        async invalidate(mni, range, cur) {
          // An owner-style filter: some invalidations return without set_seq.
          if (filterProtection && range.event === MMU_NOTIFY_PROTECTION_VMA) return true;
          await lock.lock();
          mmuIntervalSetSeq(mni, cur);
          lock.unlock();
          return true;
        },
      });
      const readerTask = k.spawn('reader', 'driver', async () => {
        for (const y of readerYields) {
          const call = k.trace.length;
          const seq = await mmuIntervalReadBegin(sub);
          for (let i = 0; i < y; i++) await k.yieldPoint();
          await lock.lock();
          reads.push({ call, seq, at: k.trace.length, retry: mmuIntervalReadRetry(sub, seq) });
          lock.unlock();
        }
      });
      const reads: { call: number; seq: number; at: number; retry: boolean }[] = [];
      for (const [name, ops] of [
        ['cpu A', opsA],
        ['cpu B', opsB],
      ] as const) {
        k.spawn(name, 'cpu', async () => {
          for (const o of ops) {
            for (let i = 0; i < o.yields; i++) await k.yieldPoint();
            const len = Math.min(o.npages, 8 - o.page) * ps;
            if (o.kind === 'dontneed') await mm.madvise(base + o.page * ps, len, MADV_DONTNEED);
            else {
              await mm.write(base + o.page * ps, 7);
              await mm.mprotect(base + o.page * ps, len, PROT_READ | PROT_WRITE);
            }
          }
        });
      }
      const r = await k.run(arrayDecisions(decisions));
      expect(r.status, r.message).toBe('done');
      const events = k.trace.events();
      const setSeqs = events.filter((e) => e.type === 'set-seq' && e.sub === 'mirror') as { seq: number; curSeq: number }[];
      for (const rd of reads) {
        // read_begin samples the sub's seq when the reader next runs after the call.
        const sample = events.find((e) => e.type === 'switch' && e.to === readerTask.id && e.seq >= rd.call)?.seq ?? rd.call;
        const expected = setSeqs.some((s) => s.seq > sample && s.seq < rd.at && s.curSeq !== rd.seq);
        expect(rd.retry).toBe(expected);
      }
      const cpuEvents = events.filter((e) => e.type === 'inv-start');
      expect(cpuEvents.every((e) => e.event === MMU_NOTIFY_CLEAR || e.event === MMU_NOTIFY_PROTECTION_VMA)).toBe(true);
    },
  );
});

describe('mmuIntervalNotifierInsert/Remove (property: races with invalidations)', () => {
  const drv = fc.array(
    fc.record({
      op: fc.constantFrom('insert' as const, 'remove' as const, 'read' as const),
      sub: fc.nat({ max: 3 }),
      page: fc.nat({ max: 7 }),
      pages: fc.integer({ min: 1, max: 4 }),
    }),
    { maxLength: 12 },
  );
  const zaps = fc.array(fc.record({ page: fc.nat({ max: 7 }), npages: fc.integer({ min: 1, max: 4 }), mprotect: fc.boolean() }), {
    maxLength: 6,
  });
  test.prop([drv, zaps, zaps, fc.array(fc.nat({ max: 4 }), { maxLength: 150 })], { numRuns: 150 })(
    'should call a notifier only between its insert and the return of its remove, and settle with an even seq',
    async (drvOps, zapsA, zapsB, decisions) => {
      const { k, mm, base, ps } = await world();
      // A first notifier registers itree mode, so later inserts never take the mmap lock.
      await mmuIntervalNotifierInsert(new MmuIntervalNotifier('anchor'), mm, base + 7 * ps, ps, { invalidate: () => true });
      const subs = [0, 1, 2, 3].map((i) => new MmuIntervalNotifier(`s${i}`));
      const inserting = new Set<MmuIntervalNotifier>();
      const removed = new Set<MmuIntervalNotifier>();
      const bad: string[] = [];
      const ops: MmuIntervalNotifierOps = {
        async invalidate(mni, range, cur) {
          if (!inserting.has(mni)) bad.push(`${mni.name} called outside its insert/remove window`);
          if (range.start > mni.last || range.end - 1 < mni.start) bad.push(`${mni.name} called for a range that misses it`);
          if (cur % 2 !== 1 || cur !== subsOf(mm).invalidateSeq)
            bad.push(`${mni.name}: cur_seq ${cur}, global ${subsOf(mm).invalidateSeq}`);
          mmuIntervalSetSeq(mni, cur);
          if (range.event === MMU_NOTIFY_CLEAR && range.end - range.start > 2 * ps) await k.yieldPoint();
          return true;
        },
      };
      k.spawn('driver', 'driver', async () => {
        for (const o of drvOps) {
          const sub = subs[o.sub] as MmuIntervalNotifier;
          if (o.op === 'insert' && !sub.inserted) {
            inserting.add(sub);
            removed.delete(sub);
            expect(await mmuIntervalNotifierInsert(sub, mm, base + o.page * ps, o.pages * ps, ops)).toBe(0);
          } else if (o.op === 'remove' && sub.inserted) {
            await mmuIntervalNotifierRemove(sub);
            inserting.delete(sub);
            removed.add(sub);
          } else if (o.op === 'read' && sub.inserted) {
            await mmuIntervalReadBegin(sub);
          }
        }
      });
      for (const [name, zs] of [
        ['cpu A', zapsA],
        ['cpu B', zapsB],
      ] as const) {
        k.spawn(name, 'cpu', async () => {
          for (const z of zs) {
            const len = Math.min(z.npages, 8 - z.page) * ps;
            if (z.mprotect) await mm.mprotect(base + z.page * ps, len, PROT_READ | PROT_WRITE);
            else await mm.madvise(base + z.page * ps, len, MADV_DONTNEED);
          }
        });
      }
      const r = await k.run(arrayDecisions(decisions));
      expect(r.status, r.message).toBe('done');
      expect(bad).toEqual([]);
      const s = subsOf(mm);
      expect([s.invalidateSeq % 2, s.activeInvalidateRanges, s.deferredList.length]).toEqual([0, 0, 0]);
      const inTree = new Set(s.itree.all());
      for (const sub of subs) expect(inTree.has(sub), sub.name).toBe(sub.inserted);
      expect(subs.every((sub) => sub.inTree === sub.inserted && !sub.deferred)).toBe(true);
    },
  );
});
