import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { exploreSchedules } from './explore.js';
import { thpMirror } from './test-thp-mirror.js';

describe('exploreSchedules options', () => {
  const scenario: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon' }],
    tasks: [{ kind: 'cpu', ops: [{ op: 'write', region: 0, page: 0, value: 1 }] }],
  };

  it.each([
    ['no schedules', { maxSchedules: 0 }, /maxSchedules 0: expected an integer ≥ 1/],
    ['a fractional count of schedules', { maxSchedules: 2.5 }, /maxSchedules 2.5/],
    ['a negative preemption bound', { maxPreemptions: -1 }, /maxPreemptions -1: expected an integer ≥ 0/],
    [
      'a misspelt option',
      { maxschedules: 1 } as never,
      /exploreSchedules: unknown option "maxschedules"; the options are maxPreemptions, maxSchedules, maxSteps, rules/,
    ],
  ])('should refuse %s rather than report a search it did not make', async (_what, options, message) => {
    await expect(exploreSchedules(thpMirror(true), scenario, options)).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('should search one schedule of a one-task scenario, completely, at the least bounds', async () => {
    const r = await exploreSchedules(thpMirror(true), scenario, { maxSchedules: 1, maxPreemptions: 0 });
    expect([r.schedules, r.complete, r.last.verdict]).toEqual([1, true, 'pass']);
  });
});
