/**
 * Every correct example (each examples/* driver without an expected.json, and the controls of the
 * bug zoo) keeps the flush contract over 10,000 random scenarios: campaigns of the default
 * strategy, seeded, stopping at the first violation. HMMLAB_EXAMPLE_RUNS lowers the count for a
 * quick local run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatViolation } from '@hmmlab/assertions';
import { runCampaign } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../examples', import.meta.url));
const RUNS = Number(process.env.HMMLAB_EXAMPLE_RUNS ?? 10_000);

/** Folders under `dir` holding a driver.ts and no expected.json, recursively (the zoo's controls included). */
function correctDrivers(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules') continue;
    const d = join(dir, e.name);
    if (existsSync(join(d, 'driver.ts'))) {
      if (!existsSync(join(d, 'expected.json'))) out.push(d);
    } else {
      out.push(...correctDrivers(d));
    }
  }
  return out.sort();
}

const drivers = correctDrivers(root);

describe('correct examples', () => {
  it('should find the correct examples', () => {
    expect(drivers.map((d) => d.slice(root.length + 1))).toEqual([
      'amdkfd-style',
      'amdkfd-style-xnack-off',
      'buggy/controls/n1-own-migrate-revoked',
      'buggy/controls/n2-own-exclusive-skip',
      'buggy/controls/n3-nothing-mapped',
      'buggy/controls/n4-not-present-under-lock',
      'buggy/controls/n5-release-notifier',
      'buggy/controls/n6-downgrade-own-migrate',
      'buggy/controls/n7-quiesce-restore',
      'buggy/controls/n8-inline-under-block-lock',
      'buggy/controls/n9-retry-under-both-locks',
      'dmirror-fixed',
      'mlx5-odp-style',
      'nouveau-style',
      'xe-style',
    ]);
  });

  it.each(drivers.map((d) => [d.slice(root.length + 1), d]))(
    'should keep the flush contract in %s over the campaign',
    async (_name, dir) => {
      const driver = await loadDriver(join(dir, 'driver.ts'));
      const r = await runCampaign(driver, { runs: RUNS, seed: 1 });
      expect(r.failure === null ? 'pass' : formatViolation(r.failure.violation)).toBe('pass');
      expect(r.runs).toBe(RUNS);
    },
  );
});
