import type { Kernel } from '@hmmlab/core';
import { Device, defineDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { runCampaign, runSample } from './campaign.js';
import { mirror } from './test-mirror.js';

/**
 * A driver with device memory whose `migrateToDevice` allocates a page for a copy that fails and,
 * with `leaks`, never gives it back: a leak that only the end of the process shows.
 */
function allocFails(leaks: boolean) {
  return defineDriver({
    name: leaks ? 'alloc-fails-leaks' : 'alloc-fails',
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0', memory: { type: 'private', pages: 64, migrateToRam: () => Promise.resolve(0) } });
      return {
        devices: [dev],
        bind: (mm) =>
          Promise.resolve({
            vms: [dev.createVm(mm, {})],
            migrateToDevice() {
              const page = dev.allocPage();
              if (page !== null && !leaks) {
                kernel.pages.unlockPage(page);
                kernel.pages.putPage(page);
              }
              return Promise.resolve(-11);
            },
            unbind: () => Promise.resolve(),
          }),
      };
    },
  });
}

describe('checkCampaignOptions', () => {
  it.each([
    ['no runs', { runs: 0 }, /runs 0: expected an integer ≥ 1/],
    ['a fractional count of runs', { runs: 2.5 }, /runs 2.5/],
    ['NaN runs', { runs: Number.NaN }, /runs NaN/],
    ['a fractional seed', { seed: 1.5 }, /seed 1.5: expected an integer in \[0, 4294967295\]/],
    ['a seed beyond 32 bits', { seed: 2 ** 32 + 1 }, /seed 4294967297/],
    ['a negative seed', { seed: -1 }, /seed -1/],
    ['an unknown strategy', { strategy: 'dfs' as never }, /strategy "dfs": expected one of pct, random, exhaustive/],
    ['no time', { timeMs: 0 }, /timeMs 0/],
    ['no step budget', { maxSteps: 0 }, /maxSteps 0/],
    ['no schedules per scenario', { schedulesPerScenario: 0 }, /schedulesPerScenario 0/],
    ['no profiles', { profiles: [] }, /profiles: expected at least one/],
    ['an unknown profile', { profiles: ['4.19' as never] }, /profile "4.19": expected one of/],
    [
      'an unknown race window to require',
      { requireWindows: ['copy-during-migraton'] },
      /requireWindows: unknown race window "copy-during-migraton"; the windows are /,
    ],
    [
      'a corpus entry without a schedule',
      { corpus: [{ scenario: { regions: [], tasks: [] }, keys: [] } as never] },
      /corpus\[0\]: its schedule is not valid/,
    ],
    ['a misspelt shape field', { shape: { exitt: true } as never }, /scenario shape: unknown field "exitt"/],
    ['a misspelt option', { run: 5 } as never, /campaign options: unknown option "run"; the options are runs, timeMs, seed, /],
    ['an option of another call', { maxSchedules: 5 } as never, /campaign options: unknown option "maxSchedules"/],
  ])('should refuse %s before any run', async (_what, options, message) => {
    let probes = 0;
    const counted = defineDriver({
      name: 'counted',
      probe(kernel: Kernel) {
        probes++;
        return mirror(true).probe(kernel);
      },
    });
    await expect(runCampaign(counted, options)).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
    expect(probes).toBe(0);
  });

  it('should refuse a shape with more devices than the driver binds, before any run, and take as many as it binds', async () => {
    let probes = 0;
    const counted = defineDriver({
      name: 'counted',
      probe(kernel: Kernel) {
        probes++;
        return mirror(true).probe(kernel);
      },
    });
    await expect(runCampaign(counted, { runs: 5, shape: { devices: 2 } })).rejects.toThrow(
      expect.objectContaining({
        name: 'CampaignOptionsError',
        message: 'shape devices 2: driver "counted" binds 1 device address space (vmsPerBinding); device work can use 1 to 1',
      }),
    );
    expect(probes).toBe(0);
    expect((await runCampaign(counted, { runs: 5, shape: { devices: 1 } })).runs).toBe(5);
  });

  it('should take the edges of each range', async () => {
    const r = await runCampaign(mirror(true), {
      runs: 1,
      seed: 2 ** 32 - 1,
      timeMs: 60_000,
      maxSteps: 50_000,
      schedulesPerScenario: 1,
      profiles: ['latest'],
    });
    expect(r.runs).toBe(1);
  });
});

describe('runCampaign', () => {
  it.each([1, 2, 3, 4])('should shrink the counterexample of seed %i until every op it keeps is needed', async (seed) => {
    const driver = mirror(false);
    const r = await runCampaign(driver, { runs: 500, seed });
    const f = r.failure;
    if (f === null) throw new Error(`seed ${seed} found nothing in 500 runs`);
    expect(f.violation.rule).toBe('missed-flush');
    expect(f.shrunk.opsAfter).toBeLessThanOrEqual(f.shrunk.opsBefore);
    // Without any one of the ops left, the same schedule no longer breaks the rule.
    for (let t = 0; t < f.scenario.tasks.length; t++) {
      const task = f.scenario.tasks[t] as (typeof f.scenario.tasks)[number];
      for (let o = 0; o < task.ops.length; o++) {
        const ops = task.ops.filter((_op, i) => i !== o);
        const tasks =
          ops.length === 0 ? f.scenario.tasks.filter((_x, i) => i !== t) : f.scenario.tasks.map((x, i) => (i === t ? { ...x, ops } : x));
        if (tasks.length === 0) continue;
        const again = await runSample(driver, [{ ...f.scenario, tasks }, f.schedule], {});
        expect(again.violations.map((v) => v.rule)).not.toContain('missed-flush');
      }
    }
  });

  it('should drop the exit at the end from counterexamples the programs show without it, and keep it where the bug needs it', async () => {
    const kept: number[] = [];
    const dropped: number[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runCampaign(mirror(false), { runs: 500, seed });
      const f = r.failure;
      if (f === null) throw new Error(`seed ${seed} found nothing in 500 runs`);
      // Every generated scenario ends with the exit: a counterexample without it was shrunk so.
      if (f.scenario.exitAtEnd !== true) {
        dropped.push(seed);
        continue;
      }
      kept.push(seed);
      const { exitAtEnd: _end, ...without } = f.scenario;
      const again = await runSample(mirror(false), [without, f.schedule], {});
      expect(again.violations.map((v) => v.rule)).not.toContain('missed-flush');
    }
    expect(dropped.length).toBeGreaterThan(0);
    expect(kept.length).toBeGreaterThan(0);
  });

  it('should catch a device page leaked by a failed migration at the end of the process, and keep the end in the counterexample', async () => {
    const r = await runCampaign(allocFails(true), { runs: 300, seed: 1 });
    const f = r.failure;
    if (f === null) throw new Error('the leaking driver passed 300 runs');
    expect(f.violation.rule).toBe('leak-at-exit');
    expect(f.scenario.exitAtEnd).toBe(true);
    expect(f.scenario.tasks.flatMap((t) => t.ops.map((o) => o.op))).toEqual(['migrate-to-device']);
  });

  it('should find nothing in the same runs when the failed migration frees its page', async () => {
    const r = await runCampaign(allocFails(false), { runs: 300, seed: 1 });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(300);
  });

  it('should find nothing in the same runs when the callback flushes', async () => {
    const r = await runCampaign(mirror(true), { runs: 500, seed: 1 });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(500);
  });
});
