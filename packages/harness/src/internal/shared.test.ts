import { firstRunnable, Kernel, type TraceEvent } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { SharedCell, SharedMap } from './shared.js';

type SharedEvent = Extract<TraceEvent, { type: 'shared-access' }>;

function accesses(k: Kernel): Omit<SharedEvent, 'seq' | 'step' | 'task' | 'obj'>[] {
  return (k.trace.events() as TraceEvent[])
    .filter((e): e is SharedEvent => e.type === 'shared-access')
    .map(({ name, key, write, atomic }) => ({ type: 'shared-access', name, key, write, atomic }));
}

describe('SharedCell', () => {
  it('should record each read and write made during a run, and none outside it', async () => {
    const k = new Kernel({ trace: 'all' });
    const c = new SharedCell(k, 'flag', 1, { atomic: true });
    c.set(2); // set-up: nothing runs concurrently yet
    k.spawn('t', 'driver', () => {
      c.update((v) => v + 1);
    });
    await k.run(firstRunnable);
    expect(c.get()).toBe(3);
    expect(accesses(k)).toEqual([
      { type: 'shared-access', name: 'flag', key: '', write: false, atomic: true },
      { type: 'shared-access', name: 'flag', key: '', write: true, atomic: true },
    ]);
  });
});

describe('SharedCell (marked accesses)', () => {
  it('should mark readOnce and writeOnce atomic on a plain cell, beside its plain get and set', async () => {
    const k = new Kernel({ trace: 'all' });
    const c = new SharedCell(k, 'tile_present', 0);
    k.spawn('t', 'driver', () => {
      c.writeOnce(c.get() | 1);
      expect(c.readOnce()).toBe(1);
    });
    await k.run(firstRunnable);
    expect(accesses(k).map((a) => [a.write, a.atomic])).toEqual([
      [false, false],
      [true, true],
      [false, true],
    ]);
  });
});

describe('SharedMap', () => {
  it('should record accesses per key, and every key when iterated', async () => {
    const k = new Kernel({ trace: 'all' });
    const m = new SharedMap<number, string>(k, 'present');
    k.spawn('t', 'driver', () => {
      m.set(3, 'a');
      m.set(5, 'b');
      expect(m.has(3)).toBe(true);
      expect(m.delete(5)).toBe(true);
      expect(m.entries()).toEqual([[3, 'a']]);
    });
    await k.run(firstRunnable);
    expect(accesses(k).map((a) => `${a.write ? 'w' : 'r'}${a.key}`)).toEqual(['w3', 'w5', 'r3', 'w5', 'r3']);
  });
});
