import { describe, expect, it } from 'vitest';
import { Trace } from './trace.js';

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
