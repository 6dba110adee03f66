/**
 * Every counterexample of the bug zoo replays exactly: the token of each case's campaign (default
 * seed, the campaign shape of its expected.json, no shrinking, to keep this cheap) replays to the
 * same rule at the same step, through the library (`replayToken`, every case) and through the
 * command line (`hmmlab replay`, one process per case for a few cases: the livelock H2, whose run
 * ends at the campaign's step limit, and two cases of other rules). Replayed against the fixed
 * driver, a token diverges.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Violation } from '@hmmlab/assertions';
import { decodeToken, defaultMaxSteps, replayToken, runCampaign, type ScenarioShape } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const zoo = `${root}examples/buggy/`;
const bin = `${root}packages/cli/bin/hmmlab.js`;
const cases = readdirSync(zoo)
  .filter((d) => existsSync(`${zoo}${d}/expected.json`))
  .sort();
/** Replayed through the CLI as well. */
const CLI_CASES = ['h2-lock-in-migrate-to-ram', 's13-protection-noop', 'a1-dmirror-migrate-to-device'];

interface Found {
  readonly token: string;
  readonly violation: Violation;
}
const found = new Map<string, Found>();

/** Runs a campaign may take to find a case: enough for the slowest on seed 1 (h2, 3,666 runs). */
const RUNS = 5000;

async function campaignOf(dir: string): Promise<Found> {
  const expected = JSON.parse(readFileSync(`${zoo}${dir}/expected.json`, 'utf8')) as { fuzz?: { shape?: ScenarioShape } };
  const driver = await loadDriver(`${zoo}${dir}/driver.ts`);
  const r = await runCampaign(driver, { runs: RUNS, shrink: false, shape: expected.fuzz?.shape ?? {} });
  if (r.failure === null) throw new Error(`${dir}: the campaign of seed 1 found nothing in ${RUNS} runs`);
  return { token: r.failure.token, violation: r.failure.violation };
}

beforeAll(async () => {
  for (const dir of cases) found.set(dir, await campaignOf(dir));
}, 600_000);

describe('replaying the bug zoo', () => {
  it('should have every case of examples/buggy', () => {
    expect(cases.length).toBe(32);
    expect(cases).toEqual(expect.arrayContaining(CLI_CASES));
  });

  it.each(cases)('should replay the counterexample of %s to the same rule at the same step (library)', async (dir) => {
    const f = found.get(dir) as Found;
    const r = await replayToken(await loadDriver(`${zoo}${dir}/driver.ts`), f.token);
    expect(r.divergence).toBeNull();
    expect(r.data.expected).toMatchObject({ rule: f.violation.rule, step: f.violation.step });
    expect(r.run.violations.map((v) => [v.rule, v.step])).toContainEqual([f.violation.rule, f.violation.step]);
  });

  it('should record the step limit the livelock was found at', () => {
    const f = found.get('h2-lock-in-migrate-to-ram') as Found;
    expect(f.violation.rule).toBe('livelock');
    const limit = defaultMaxSteps(decodeToken(f.token).scenario);
    expect(decodeToken(f.token).maxSteps).toBe(limit);
    expect(f.violation.step).toBe(limit);
  });

  it.each(CLI_CASES)('should replay the counterexample of %s to the same rule at the same step (hmmlab replay)', (dir) => {
    const f = found.get(dir) as Found;
    const r = spawnSync(process.execPath, [bin, 'replay', `examples/buggy/${dir}`, f.token, '--json'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    expect(r.status, r.stderr).toBe(1);
    const entry = (JSON.parse(r.stdout) as { drivers: { status: string; violations: { rule: string; step: number }[] }[] }).drivers[0];
    expect(entry?.status).toBe('reproduced');
    expect(entry?.violations[0]).toMatchObject({ rule: f.violation.rule, step: f.violation.step });
  });

  it.each([
    ['s13-protection-noop', 'examples/buggy/s13-protection-noop/fixed.ts'],
    ['a1-dmirror-migrate-to-device', 'examples/dmirror-fixed/driver.ts'],
  ])('should diverge when the counterexample of %s is replayed against the fixed driver', async (dir, fixed) => {
    const f = found.get(dir) as Found;
    const r = await replayToken(await loadDriver(`${root}${fixed}`), f.token);
    expect(r.divergence).toMatch(new RegExp(`^the run no longer reaches the recorded ${f.violation.rule} at step ${f.violation.step}: `));
  });
});
