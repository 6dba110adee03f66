import type { TaskInfo } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { pctDecisions } from './schedule.js';

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

describe('pctDecisions with a fair tail', () => {
  it('should go round robin from the fair decision on', () => {
    const three: TaskInfo[] = [...tasks, { id: 2, name: 'c', kind: 'cpu' }];
    const d = pctDecisions([9, 1, 5], [], 2);
    expect([0, 1, 2, 3, 4, 5].map((i) => d.pick(three, i))).toEqual([0, 0, 1, 2, 0, 1]);
  });
});
