import { Kernel, type TaskInfo } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { PCT_STARVATION_BOUND, pctDecisions } from './schedule.js';

const tasks: TaskInfo[] = [
  { id: 0, name: 'a', kind: 'cpu' },
  { id: 1, name: 'b', kind: 'device' },
];

describe('pctDecisions', () => {
  it('should place change points at scheduling decisions, whatever the step numbers', () => {
    // Task 0 has the higher priority; the change point at decision 2 demotes it.
    const d = pctDecisions([9, 1], [2]);
    expect([d.pick(tasks, 10), d.pick(tasks, 40), d.pick(tasks, 95), d.pick(tasks, 96)]).toEqual([0, 0, 1, 1]);
  });

  it('should run the highest priority without change points', () => {
    const d = pctDecisions([1, 9], []);
    expect([d.pick(tasks, 1), d.pick(tasks, 2)]).toEqual([1, 1]);
  });
});

describe('pctDecisions and starvation', () => {
  it('should drop a task picked PCT_STARVATION_BOUND times in a row below the others, one after another', () => {
    const three: TaskInfo[] = [...tasks, { id: 2, name: 'c', kind: 'cpu' }];
    const d = pctDecisions([9, 1, 5], []);
    const picks = Array.from({ length: 3 * PCT_STARVATION_BOUND + 1 }, (_x, i) => d.pick(three, i));
    // Task 0 first; then task 2, the next priority; then task 1; then task 0 again, the first dropped.
    expect(picks.slice(0, PCT_STARVATION_BOUND).every((p) => p === 0)).toBe(true);
    expect(picks.slice(PCT_STARVATION_BOUND, 2 * PCT_STARVATION_BOUND).every((p) => p === 2)).toBe(true);
    expect(picks.slice(2 * PCT_STARVATION_BOUND, 3 * PCT_STARVATION_BOUND).every((p) => p === 1)).toBe(true);
    expect(picks.at(-1)).toBe(0);
  });

  it('should let a polling task of higher priority wait for a lower one to the end, not to the step limit', async () => {
    const k = new Kernel({ trace: 'none' });
    let done = false;
    k.spawn('poller', 'driver', async () => {
      while (!done) await k.sched.yield();
    });
    k.spawn('worker', 'cpu', () => {
      done = true;
    });
    // Priorities are drawn by task id: the poller (task 1) gets 9, the worker (task 2) 1.
    const r = await k.run(pctDecisions([0, 9, 1], []), { maxSteps: 5 * PCT_STARVATION_BOUND });
    expect(r.status, r.message).toBe('done');
    expect(r.steps).toBeGreaterThan(PCT_STARVATION_BOUND);
  });
});

describe('pctDecisions with a fair tail', () => {
  it('should go round robin from the fair decision on', () => {
    const three: TaskInfo[] = [...tasks, { id: 2, name: 'c', kind: 'cpu' }];
    const d = pctDecisions([9, 1, 5], [], 2);
    expect([0, 1, 2, 3, 4, 5].map((i) => d.pick(three, i))).toEqual([0, 0, 1, 2, 0, 1]);
  });
});
