/**
 * `pnpm bench:compare <other checkout> [runs] [rounds]`: the campaigns of this checkout's build
 * against another's (both built: npx tsc -b in each), in alternating processes. Each round runs
 * one process per build, in alternating order, so that a load change on a shared machine hits
 * both alike; a process loads one build, warms it up (the JIT), then times a campaign of `runs`
 * runs of every driver, seeded by the round. It prints each round's times and their ratio, then
 * the ratio of the totals and the median of the rounds'. `HMMLAB_COMPARE_DRIVERS` (example
 * folders, comma-separated) and `HMMLAB_COMPARE_THP` (`1`: THP layouts only, `0`: none) change
 * the campaigns. `HMMLAB_COMPARE_ROUND=1` times the model's round of `pnpm bench` instead
 * (bench/src/mixed-workload.ts of each checkout: 256 stores, an mprotect and a munmap), `runs`
 * rounds a process. Before a speed comparison, check that the two builds make the same runs
 * (`hmmlab fuzz --json` of both).
 *
 * One process per build, not both builds in one process: with both loaded, one of them ran 15 to
 * 30% slower for the whole process in about one process in three, whichever code it was.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

function usage(message: string): never {
  process.stderr.write(`bench:compare: ${message}\nusage: pnpm bench:compare <other checkout> [runs per campaign] [rounds]\n`);
  process.exit(2);
}

const names = process.env.HMMLAB_COMPARE_DRIVERS?.split(',').filter((n) => n !== '') ?? DEFAULT_DRIVERS;
const thp = process.env.HMMLAB_COMPARE_THP;
const shape: CampaignOptions = thp === undefined ? {} : { shape: { thp: thp === '1' } };

/** The child of `HMMLAB_COMPARE_ROUND=1`: times `runs` of the model's round of the checkout at `root`. */
async function roundChild(root: string, runs: number): Promise<void> {
  const file = resolve(root, 'bench/src/mixed-workload.ts');
  if (!existsSync(file)) usage(`${file} is missing`);
  const { modelRound } = (await import(pathToFileURL(file).href)) as { modelRound: () => Promise<number> };
  for (let i = 0; i < 3000; i++) await modelRound();
  const t = performance.now();
  for (let i = 0; i < runs; i++) await modelRound();
  process.stdout.write(`${performance.now() - t}\n`);
}

/** The child: times the campaigns of the build at `root`, prints the milliseconds. */
async function child(root: string, runs: number, seed: number): Promise<void> {
  const dist = (pkg: string): string => {
    const f = resolve(root, 'packages', pkg, 'dist/index.js');
    if (!existsSync(f)) usage(`${f} is missing: build that checkout first (npx tsc -b)`);
    return pathToFileURL(f).href;
  };
  const fuzz = (await import(dist('fuzz'))) as { runCampaign: (d: DriverDefinition, o: CampaignOptions) => Promise<unknown> };
  const harness = (await import(dist('harness'))) as { loadDriver: (file: string) => Promise<DriverDefinition> };
  const drivers: DriverDefinition[] = [];
  for (const n of names) {
    const file = resolve(root, 'examples', n, 'driver.ts');
    if (!existsSync(file)) usage(`${file} is missing`);
    drivers.push(await harness.loadDriver(file));
  }
  for (const d of drivers) await fuzz.runCampaign(d, { runs: Math.min(runs, 400), seed: 99, ...shape });
  const t = performance.now();
  for (const d of drivers) await fuzz.runCampaign(d, { runs, seed, ...shape });
  process.stdout.write(`${performance.now() - t}\n`);
}

const [otherArg, runsArg, roundsArg] = process.argv.slice(2);
if (otherArg === undefined) usage('give the other checkout');
const runs = Number(runsArg ?? 300);
const rounds = Number(roundsArg ?? 6);
if (!Number.isInteger(runs) || runs < 1) usage(`runs ${runsArg}: expected a positive integer`);
if (!Number.isInteger(rounds) || rounds < 1) usage(`rounds ${roundsArg}: expected a positive integer`);

const childRoot = process.env.HMMLAB_COMPARE_ROOT;
const modelRounds = process.env.HMMLAB_COMPARE_ROUND === '1';
if (childRoot !== undefined) {
  if (modelRounds) await roundChild(childRoot, runs);
  else await child(childRoot, runs, Number(process.env.HMMLAB_COMPARE_SEED ?? 1));
} else {
  // Index 0 is the other build (the baseline), index 1 this one.
  const roots = [resolve(otherArg), resolve(import.meta.dirname, '..')];
  const timeOf = (root: string, seed: number): number => {
    const c = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      env: { ...process.env, HMMLAB_COMPARE_ROOT: root, HMMLAB_COMPARE_SEED: String(seed) },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    if (c.status !== 0) process.exit(c.status ?? 1);
    return Number(c.stdout.trim());
  };
  const total = [0, 0];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = [0, 0];
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) t[k] = timeOf(roots[k] as string, 1 + r);
    const [other, mine] = t as [number, number];
    total[0] = (total[0] as number) + other;
    total[1] = (total[1] as number) + mine;
    ratios.push(other / mine);
    process.stdout.write(
      `round ${r + 1}: other ${(other / 1000).toFixed(2)} s, this ${(mine / 1000).toFixed(2)} s, other/this ${(other / mine).toFixed(3)}\n`,
    );
  }
  process.stdout.write(
    `${modelRounds ? 'the model round' : `${names.length} drivers`}, ${runs} runs each, ${rounds} rounds: other/this ${((total[0] as number) / (total[1] as number)).toFixed(3)} in total, ${median(ratios).toFixed(3)} the median of the rounds (above 1: this build is faster)\n`,
  );
}
