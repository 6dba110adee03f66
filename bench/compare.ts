/**
 * `pnpm bench:compare <other checkout> [runs] [rounds]`: the campaigns of two builds side by side
 * in one process, this checkout's against another's (both built: npx tsc -b in each). Each round
 * runs, for every driver, a campaign of the other build and one of this build, with the same seed
 * and in alternating order, so that a load change on a shared machine hits both alike; it prints
 * each round's times and their ratio, then the ratio of the totals and the median of the rounds'.
 * `HMMLAB_COMPARE_DRIVERS` (example folders, comma-separated) and `HMMLAB_COMPARE_THP` (`1`: THP
 * layouts only, `0`: none) change the campaigns. Before a speed comparison, check that the two
 * builds make the same runs (`hmmlab fuzz --json` of both).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CampaignOptions } from '@hmmlab/fuzz';
import type { DriverDefinition } from '@hmmlab/harness';
import { median } from './src/measure.js';

const DEFAULT_DRIVERS = [
  'amdkfd-style',
  'amdkfd-style-xnack-off',
  'xe-style',
  'dmirror-fixed',
  'mlx5-odp-style',
  'nouveau-style',
  'buggy/controls/n1-own-migrate-revoked',
  'buggy/controls/n4-not-present-under-lock',
  'buggy/controls/n7-quiesce-restore',
];

interface Build {
  readonly root: string;
  readonly runCampaign: (d: DriverDefinition, o: CampaignOptions) => Promise<unknown>;
  readonly drivers: DriverDefinition[];
}

function usage(message: string): never {
  process.stderr.write(`bench:compare: ${message}\nusage: pnpm bench:compare <other checkout> [runs per campaign] [rounds]\n`);
  process.exit(2);
}

const [otherArg, runsArg, roundsArg] = process.argv.slice(2);
if (otherArg === undefined) usage('give the other checkout');
const runs = Number(runsArg ?? 300);
const rounds = Number(roundsArg ?? 6);
if (!Number.isInteger(runs) || runs < 1) usage(`runs ${runsArg}: expected a positive integer`);
if (!Number.isInteger(rounds) || rounds < 1) usage(`rounds ${roundsArg}: expected a positive integer`);
const names = process.env.HMMLAB_COMPARE_DRIVERS?.split(',').filter((n) => n !== '') ?? DEFAULT_DRIVERS;
const thp = process.env.HMMLAB_COMPARE_THP;
const shape: CampaignOptions = thp === undefined ? {} : { shape: { thp: thp === '1' } };

async function load(root: string): Promise<Build> {
  const dist = (pkg: string): string => {
    const f = resolve(root, 'packages', pkg, 'dist/index.js');
    if (!existsSync(f)) usage(`${f} is missing: build that checkout first (npx tsc -b)`);
    return pathToFileURL(f).href;
  };
  const fuzz = (await import(dist('fuzz'))) as { runCampaign: Build['runCampaign'] };
  const harness = (await import(dist('harness'))) as { loadDriver: (file: string) => Promise<DriverDefinition> };
  const drivers: DriverDefinition[] = [];
  for (const n of names) {
    const file = resolve(root, 'examples', n, 'driver.ts');
    if (!existsSync(file)) usage(`${file} is missing`);
    drivers.push(await harness.loadDriver(file));
  }
  return { root, runCampaign: fuzz.runCampaign, drivers };
}

// The other build first: index 0 is the baseline.
const builds = [await load(resolve(otherArg)), await load(resolve(import.meta.dirname, '..'))];
// Warm both up (the JIT) before measuring.
for (const b of builds) for (const d of b.drivers) await b.runCampaign(d, { runs: Math.min(runs, 400), seed: 99, ...shape });
const total = [0, 0];
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t = [0, 0];
  for (let di = 0; di < names.length; di++) {
    for (const k of (r + di) % 2 === 0 ? [0, 1] : [1, 0]) {
      const b = builds[k] as Build;
      const s = performance.now();
      await b.runCampaign(b.drivers[di] as DriverDefinition, { runs, seed: 1 + r, ...shape });
      t[k] = (t[k] as number) + performance.now() - s;
    }
  }
  const [other, mine] = t as [number, number];
  total[0] = (total[0] as number) + other;
  total[1] = (total[1] as number) + mine;
  ratios.push(other / mine);
  process.stdout.write(
    `round ${r + 1}: other ${(other / 1000).toFixed(2)} s, this ${(mine / 1000).toFixed(2)} s, other/this ${(other / mine).toFixed(3)}\n`,
  );
}
process.stdout.write(
  `${names.length} drivers, ${runs} runs each, ${rounds} rounds: other/this ${((total[0] as number) / (total[1] as number)).toFixed(3)} in total, ${median(ratios).toFixed(3)} the median of the rounds (above 1: this build is faster)\n`,
);
