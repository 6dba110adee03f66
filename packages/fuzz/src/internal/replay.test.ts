import type { TaskInfo } from '@hmmlab/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Counterexample, runCampaign } from './campaign.js';
import { defaultMaxSteps } from './explore.js';
import { replayToken, strictDecisions } from './replay.js';
import { mirror } from './test-mirror.js';
import { decodeToken, type ReplayData } from './token.js';

const two: TaskInfo[] = [
  { id: 0, name: 'a', kind: 'cpu' },
  { id: 1, name: 'b', kind: 'device' },
];

describe('strictDecisions', () => {
  it('should play the recorded choices exactly', () => {
    const d = strictDecisions([1, 0, 1]);
    expect([d.pick(two, 1), d.pick(two, 2), d.pick(two, 3)]).toEqual([1, 0, 1]);
    expect(d.used()).toBe(3);
    expect(d.divergence()).toBeNull();
  });

  it('should refuse a choice out of range instead of taking it modulo', () => {
    const d = strictDecisions([0, 2]);
    expect(d.pick(two, 4)).toBe(0);
    expect(d.pick(two, 9)).toBe(-1);
    expect(d.divergence()).toBe('recorded decision 1 picks task 2 of 2 runnable at step 9');
  });

  it('should refuse to go on once the choices are used up instead of running task 0', () => {
    const d = strictDecisions([1]);
    d.pick(two, 1);
    expect(d.pick(two, 7)).toBe(-1);
    expect(d.divergence()).toBe('the run needs a scheduling decision at step 7, after all 1 recorded ones');
  });
});

describe('replayToken', () => {
  let found: Counterexample;
  let data: ReplayData;

  beforeAll(async () => {
    const r = await runCampaign(mirror(false), { runs: 500, seed: 6 });
    if (r.failure === null) throw new Error('seed 6 found nothing in 500 runs');
    found = r.failure;
    data = decodeToken(found.token);
  });

  it("should replay a campaign's token to the same rule at the same step", async () => {
    const r = await replayToken(mirror(false), found.token);
    expect(r.divergence).toBeNull();
    expect(r.run.violations[0]?.rule).toBe(found.violation.rule);
    expect(r.run.violations[0]?.step).toBe(found.violation.step);
    expect(data.expected).toMatchObject({ rule: found.violation.rule, step: found.violation.step });
  });

  it('should record the campaign step limit and oracle options in the token', async () => {
    const r = await runCampaign(mirror(false), { runs: 500, seed: 6, maxSteps: 5000, rules: ['missed-flush'] });
    const d = decodeToken(r.failure?.token ?? '');
    expect(d.maxSteps).toBe(5000);
    expect(d.oracle).toEqual({ stopOnFirst: true, rules: ['missed-flush'] });
    // Without one, the default of the run's layout.
    expect(data.maxSteps).toBe(defaultMaxSteps(data.scenario));
    expect(data.oracle).toEqual({ stopOnFirst: true });
  });

  it('should diverge, saying the run no longer reaches the violation, with the fixed driver', async () => {
    const r = await replayToken(mirror(true), found.token);
    expect(r.divergence).toMatch(/^the run no longer reaches the recorded missed-flush at step \d+: /);
    expect(r.divergence).toContain('this is "flushing-mirror"');
  });

  it.each([
    ['a decision out of range', (d: ReplayData) => d.decisions.map((x, i) => (i === 0 ? x + 9 : x))],
    ['decisions missing', (d: ReplayData) => d.decisions.slice(0, 1)],
  ])('should end a run that diverges on %s there, with no violation of its own making', async (_what, decisions) => {
    const r = await replayToken(mirror(false), { ...data, decisions: decisions(data) });
    expect(r.run.run.status).toBe('stopped');
    expect(r.run.run.message).toMatch(/: the decision source ended the run \(pick returned -1 among \d+ tasks\)$/);
    expect(r.run.violations).toEqual([]);
  });

  it.each([
    [
      'a decision out of range',
      (d: ReplayData) => ({ decisions: d.decisions.map((x, i) => (i === 0 ? x + 9 : x)) }),
      /picks task \d+ of \d+/,
    ],
    ['decisions missing', (d: ReplayData) => ({ decisions: d.decisions.slice(0, -1) }), /needs a scheduling decision at step/],
    ['decisions left over', (d: ReplayData) => ({ decisions: [...d.decisions, 0, 0] }), /2 of \d+ recorded decisions unused/],
    [
      'another recorded step',
      (d: ReplayData) => ({ expected: { ...d.expected, step: d.expected.step + 1 } }),
      /it ends in missed-flush at step/,
    ],
    ['another recorded trace', (d: ReplayData) => ({ expected: { ...d.expected, fingerprint: '00000000' } }), /its trace differs/],
  ])('should diverge on %s', async (_what, change, message) => {
    expect(data.decisions.length).toBeGreaterThan(0);
    const r = await replayToken(mirror(false), { ...data, ...change(data) });
    expect(r.divergence).toMatch(message);
  });
});
