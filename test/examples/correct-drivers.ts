/**
 * Every correct example (each examples/* driver without an expected.json, and the controls of the
 * bug zoo) keeps the flush contract over 2,000 random scenarios: campaigns of the default
 * strategy, seeded, stopping at the first violation. HMMLAB_EXAMPLE_RUNS sets another count.
 *
 * The 10,000-run campaign of every example is the main job's (`pnpm fuzz`, the Quick start's first
 * command: `hmmlab fuzz examples`, which exits 1 when a correct driver breaks a rule), and `.ci/run`
 * runs it after the tests. These shorter campaigns keep a check of every correct example in
 * `pnpm test`.
 *
 * The campaigns are split over several test files (the groups below), so that the test runner's
 * workers share them; `correct-drivers.test.ts` checks that every correct example is in a group.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatViolation } from '@hmmlab/assertions';
import { runCampaign } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../examples', import.meta.url));
const RUNS = Number(process.env.HMMLAB_EXAMPLE_RUNS ?? 2_000);

/** The correct examples, by test file. Each group is run by `correct-<group>.test.ts`. */
export const GROUPS: Readonly<Record<string, readonly string[]>> = {
  svm: ['amdkfd-style', 'amdkfd-style-xnack-off', 'xe-style'],
  mirror: ['dmirror-fixed', 'mlx5-odp-style', 'nouveau-style'],
  'controls-a': [
    'buggy/controls/n1-own-migrate-revoked',
    'buggy/controls/n2-own-exclusive-skip',
    'buggy/controls/n3-nothing-mapped',
    'buggy/controls/n4-not-present-under-lock',
    'buggy/controls/n5-release-notifier',
  ],
  'controls-b': [
    'buggy/controls/n6-downgrade-own-migrate',
    'buggy/controls/n7-quiesce-restore',
    'buggy/controls/n8-inline-under-block-lock',
    'buggy/controls/n9-retry-under-both-locks',
  ],
};

/** Folders under `dir` holding a driver.ts and no expected.json, recursively, relative to `root`. */
export function correctDrivers(dir = root): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules') continue;
    const d = join(dir, e.name);
    if (existsSync(join(d, 'driver.ts'))) {
      if (!existsSync(join(d, 'expected.json'))) out.push(d.slice(root.length + 1));
    } else {
      out.push(...correctDrivers(d));
    }
  }
  return out.sort();
}

/** The campaign of every example of `group`, one test each. */
export function campaigns(group: string): void {
  const names = GROUPS[group];
  if (names === undefined) throw new Error(`no group ${group} of correct examples`);
  describe(`correct examples (${group})`, () => {
    it.each(names.map((n) => [n]))('should keep the flush contract in %s over the campaign', async (name) => {
      const driver = await loadDriver(join(root, name, 'driver.ts'));
      const r = await runCampaign(driver, { runs: RUNS, seed: 1 });
      expect(r.failure === null ? 'pass' : formatViolation(r.failure.violation)).toBe('pass');
      expect(r.runs).toBe(RUNS);
    });
  });
}
