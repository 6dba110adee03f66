import { describe, expect, it } from 'vitest';
import { arrayDecisions, firstRunnable, seededDecisions, type TaskInfo } from './decisions.js';

const three: TaskInfo[] = [
  { id: 1, name: 'a', kind: 'cpu' },
  { id: 2, name: 'b', kind: 'cpu' },
  { id: 3, name: 'c', kind: 'cpu' },
];

describe('arrayDecisions', () => {
  it('should replay choices modulo the number of candidates', () => {
    const d = arrayDecisions([1, 5, 2]);
    expect([d.pick(three, 1), d.pick(three, 2), d.pick(three, 3)]).toEqual([1, 2, 2]);
  });

  it.each([
    ['first', [0, 0, 0]],
    ['round-robin', [0, 1, 2]],
  ] as const)('should fall back to %s when the choices run out', (fallback, want) => {
    const d = arrayDecisions([], fallback);
    expect([d.pick(three, 1), d.pick(three, 2), d.pick(three, 3)]).toEqual(want);
  });

  it.each([[-1], [1.5], [Number.NaN]])('should refuse the choice %s', (bad) => {
    expect(() => arrayDecisions([0, bad])).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});

describe('seededDecisions', () => {
  it('should give the same choices for the same seed', () => {
    const a = seededDecisions(99);
    const b = seededDecisions(99);
    const xs = Array.from({ length: 20 }, (_, i) => a.pick(three, i));
    expect(Array.from({ length: 20 }, (_, i) => b.pick(three, i))).toEqual(xs);
    expect(new Set(xs).size).toBeGreaterThan(1);
  });

  it('should refuse a seed that is not an integer', () => {
    expect(() => seededDecisions(0.5)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});

describe('firstRunnable', () => {
  it('should always pick the first candidate', () => {
    expect(firstRunnable.pick(three, 1)).toBe(0);
  });
});
