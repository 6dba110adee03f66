import { describe, expect, it } from 'vitest';
import { defaultJobs, InOrder, inSlots } from './in-order.js';

/** A promise and its resolve and reject, to finish items in the order a test chooses. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve = (): void => {};
  let reject = (_e: Error): void => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('InOrder', () => {
  it("should write the first unfinished item's text at once and hold the others' until every item before them is done", () => {
    const out: string[] = [];
    const o = new InOrder(3, (stream, text) => out.push(`${stream}:${text}`));
    o.write(0, 'stderr', 'a0');
    o.write(2, 'stdout', 'c0');
    o.write(1, 'stdout', 'b0');
    expect(out).toEqual(['stderr:a0']);
    o.finish(2);
    expect(out).toEqual(['stderr:a0']);
    o.finish(0);
    expect(out).toEqual(['stderr:a0', 'stdout:b0']);
    o.write(1, 'stderr', 'b1');
    expect(out).toEqual(['stderr:a0', 'stdout:b0', 'stderr:b1']);
    o.finish(1);
    expect(out).toEqual(['stderr:a0', 'stdout:b0', 'stderr:b1', 'stdout:c0']);
  });

  it('should write in the order of the items, whatever order they finish in', () => {
    for (const finishing of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [1, 3, 0, 2],
    ]) {
      const out: string[] = [];
      const o = new InOrder(4, (_stream, text) => out.push(text));
      for (const i of finishing) {
        o.write(i, 'stdout', `${i}`);
        o.finish(i);
      }
      expect(out).toEqual(['0', '1', '2', '3']);
    }
  });
});

describe('inSlots', () => {
  it('should run at most `jobs` items at once, starting them in order as slots free up', async () => {
    const gates = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const all = inSlots(
      5,
      2,
      async (i) => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await gates[i]?.promise;
        running--;
      },
      () => false,
    );
    // Item 0 started before inSlots returned, and item 1 beside it.
    expect(started).toEqual([0, 1]);
    gates[1]?.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.resolve();
    await all;
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });

  it('should run one item at a time with one job', async () => {
    let running = 0;
    let most = 0;
    await inSlots(
      4,
      1,
      async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setImmediate(r));
        running--;
      },
      () => false,
    );
    expect(most).toBe(1);
  });

  it('should start no more items once stopped, and throw the first failure after the running items settle', async () => {
    const gates = Array.from({ length: 4 }, () => deferred());
    const started: number[] = [];
    let stopped = false;
    let settled = 0;
    const all = inSlots(
      4,
      2,
      async (i) => {
        started.push(i);
        try {
          await gates[i]?.promise;
        } finally {
          settled++;
        }
      },
      () => stopped,
    );
    const outcome = all.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    stopped = true;
    gates[0]?.reject(new Error('item 0 failed'));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(1);
    gates[1]?.resolve();
    expect(await outcome).toBe('item 0 failed');
    expect(settled).toBe(2);
    expect(started).toEqual([0, 1]);
  });
});

describe('defaultJobs', () => {
  it('should fuzz as many drivers at once as the cores hold with their workers, at most 8 and at most the drivers', () => {
    expect(defaultJobs(1, 1, 16)).toBe(1);
    expect(defaultJobs(48, 1, 2)).toBe(2);
    expect(defaultJobs(48, 2, 2)).toBe(1);
    expect(defaultJobs(48, 3, 2)).toBe(1);
    expect(defaultJobs(48, 2, 8)).toBe(4);
    expect(defaultJobs(48, 1, 64)).toBe(8);
    expect(defaultJobs(3, 1, 64)).toBe(3);
  });
});
