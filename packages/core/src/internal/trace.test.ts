import { describe, expect, it } from 'vitest';
import { Trace, type TraceSubscription } from './trace.js';

describe('Trace', () => {
  it('should keep only the last ringSize events in ring mode', () => {
    const t = new Trace('ring', 3);
    for (let i = 0; i < 5; i++) t.emit({ type: 'warn', what: String(i), detail: '' });
    expect(t.events().map((e) => (e.type === 'warn' ? e.what : ''))).toEqual(['2', '3', '4']);
    expect(t.length).toBe(5);
  });

  it('should keep nothing in none mode but still call listeners', () => {
    const t = new Trace('none');
    expect(t.on).toBe(false);
    const seen: number[] = [];
    const off = t.subscribe((e) => seen.push(e.seq));
    expect(t.on).toBe(true);
    t.emit({ type: 'warn', what: 'a', detail: '' });
    off();
    expect(t.on).toBe(false);
    expect(seen).toEqual([0]);
    expect(t.events()).toEqual([]);
  });

  it.each([
    ['lock', { locks: false }],
    ['page-alloc', { allocs: false }],
  ] as const)('should make %s events only for a listener that wants them, numbering the others the same either way', (type, without) => {
    const events = (options: TraceSubscription) => {
      const t = new Trace('none');
      const seen: string[] = [];
      t.subscribe((e) => seen.push(`${e.type}#${e.seq}`), options);
      t.emit({ type: 'warn', what: 'a', detail: '' });
      t.lockEvent('mm->mmap_lock', 'acquire', 'read');
      t.allocEvent(7, 'system');
      t.emit({ type: 'warn', what: 'b', detail: '' });
      return { locks: t.locks, allocs: t.allocs, seen, length: t.length };
    };
    expect(events({})).toEqual({ locks: true, allocs: true, seen: ['warn#0', 'lock#1', 'page-alloc#2', 'warn#3'], length: 4 });
    const all = ['warn#0', 'lock#1', 'page-alloc#2', 'warn#3'];
    expect(events(without)).toEqual({
      locks: type !== 'lock',
      allocs: type !== 'page-alloc',
      seen: all.filter((e) => !e.startsWith(`${type}#`)),
      length: 4,
    });
  });

  it.each(['locks', 'allocs', 'switches'] as const)(
    'should make the events of %s while it keeps them or any listener wants them',
    (kind) => {
      const kept = new Trace('ring');
      kept.subscribe(() => {}, { [kind]: false });
      expect(kept[kind]).toBe(true);
      const t = new Trace('none');
      expect(t[kind]).toBe(false);
      const offWith = t.subscribe(() => {});
      t.subscribe(() => {}, { [kind]: false });
      expect(t[kind]).toBe(true);
      offWith();
      expect(t[kind]).toBe(false);
    },
  );

  it('should take no sequence number for an event while nobody listens', () => {
    const quiet = new Trace('none');
    quiet.lockEvent('l', 'acquire', 'excl');
    quiet.allocEvent(1, 'system');
    expect(quiet.length).toBe(0);
  });

  it('should stamp events with sequence, step and task', () => {
    const t = new Trace('all');
    t.attachClock({ step: 7, currentTaskId: () => 3 });
    expect(t.emit({ type: 'warn', what: 'x', detail: '' })).toMatchObject({ seq: 0, step: 7, task: 3 });
  });

  it.each([
    ['ring', 0],
    ['ring', 2],
    ['ring', 3],
    ['ring', 7],
    ['all', 0],
    ['all', 4],
    ['none', 0],
    ['none', 2],
  ] as const)('should give as last() the newest of events() in %s mode after %i events', (mode, n) => {
    const t = new Trace(mode, 3);
    for (let i = 0; i < n; i++) t.emit({ type: 'warn', what: String(i), detail: '' });
    expect(t.last()).toBe(t.events().at(-1));
    if (mode !== 'none' && n > 0) expect(t.last()).toMatchObject({ what: String(n - 1) });
    else expect(t.last()).toBeUndefined();
  });
});

describe('Trace options', () => {
  it.each([
    ['a misspelt mode', ['al', 4096], /Trace: mode "al": expected "none", "ring" or "all"/],
    ['an empty ring', ['ring', 0], /Trace: ringSize 0: expected an integer ≥ 1/],
    ['a fractional ring', ['ring', 2.5], /Trace: ringSize 2.5/],
  ])('should refuse %s', (_what, [mode, size], message) => {
    expect(() => new Trace(mode as never, size as number)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });
});
