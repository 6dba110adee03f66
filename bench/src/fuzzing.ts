/**
 * Fuzzing speed: throughput on a correct driver, and time to detect each known bug over many
 * seeds, with the default strategy and with each strategy.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runArb, runSample, runSeed, type ScenarioShape, type StrategyName, scanRuns } from '@hmmlab/fuzz';
import { type DriverDefinition, loadDriver } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { median } from './measure.js';

/** Detection figures of one case. */
export interface Detection {
  readonly medianMs: number | null;
  readonly detected: number;
  readonly seeds: number;
  readonly medianRuns: number | null;
}

/** Drivers under `dir` (folders with driver.ts), sorted. */
export function driversUnder(dir: string): { name: string; file: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'driver.ts')))
    .map((e) => ({ name: e.name, file: join(dir, e.name, 'driver.ts') }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Runs per second and steps per second over `runs` runs of a correct driver (one campaign, seeded `seed`). */
export async function throughput(
  driver: DriverDefinition,
  runs: number,
  seed = 7,
): Promise<{ scenariosPerSec: number; stepsPerSec: number; runs: number }> {
  const t = performance.now();
  const scan = await scanRuns(driver, { runs, seed });
  const s = (performance.now() - t) / 1000;
  return { scenariosPerSec: Math.round(scan.done / s), stepsPerSec: Math.round(scan.steps / s), runs: scan.done };
}

/**
 * The medians of {@link throughput} over `rounds` campaigns of `runs` runs each, seeded 7, 8, …:
 * one campaign of a few hundred runs moved by up to 40% from one bench run to the next.
 */
export async function medianThroughput(
  driver: DriverDefinition,
  rounds: number,
  runs: number,
): Promise<{ scenariosPerSec: number; stepsPerSec: number; runs: number; rounds: number }> {
  const each: { scenariosPerSec: number; stepsPerSec: number; runs: number }[] = [];
  for (let i = 0; i < rounds; i++) each.push(await throughput(driver, runs, 7 + i));
  return {
    scenariosPerSec: Math.round(median(each.map((t) => t.scenariosPerSec))),
    stepsPerSec: Math.round(median(each.map((t) => t.stepsPerSec))),
    runs: each.reduce((n, t) => n + t.runs, 0),
    rounds,
  };
}

/** The campaign shape a known bug's expected.json asks for (its kernel what-if, the ops that reach it), if any. */
export function expectedShape(file: string): ScenarioShape | undefined {
  const f = join(dirname(file), 'expected.json');
  if (!existsSync(f)) return undefined;
  return (JSON.parse(readFileSync(f, 'utf8')) as { fuzz?: { shape?: ScenarioShape } }).fuzz?.shape;
}

/**
 * What a zoo case's bug is (expected.json `kind`): a driver bug, or a kernel what-if that only a
 * kernel changed by `profileOverrides` shows.
 */
export function expectedKind(file: string): 'driver-bug' | 'kernel-what-if' {
  const f = join(dirname(file), 'expected.json');
  const e = existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { kind?: 'driver-bug' | 'kernel-what-if' }) : {};
  if (e.kind !== undefined) return e.kind;
  return Object.keys(expectedShape(file)?.profileOverrides ?? {}).length > 0 ? 'kernel-what-if' : 'driver-bug';
}

/**
 * Time until the first violation, over `seeds` seeds (no shrinking: detection only). Each campaign
 * is bounded by `maxRuns` alone: a bound on its time made which seeds detect depend on the
 * machine's speed (h2's slowest exhaustive seeds take 26 to 29 s, and 30 s was the bound).
 */
export async function timeToDetect(
  driver: DriverDefinition,
  seeds: number,
  strategy: StrategyName,
  maxRuns: number,
  shape: ScenarioShape = {},
): Promise<Detection> {
  const times: number[] = [];
  const runCounts: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const t = performance.now();
    const scan = await scanRuns(driver, { runs: maxRuns, seed, strategy, shape });
    if (scan.failing >= 0) {
      times.push(performance.now() - t);
      runCounts.push(scan.done);
    }
  }
  return {
    medianMs: times.length > 0 ? Math.round(median(times)) : null,
    detected: times.length,
    seeds,
    medianRuns: runCounts.length > 0 ? median(runCounts) : null,
  };
}

/** Loads a driver module. */
export function load(file: string): Promise<DriverDefinition> {
  return loadDriver(file);
}

/** Checks that a seed's first run replays to the same verdict (a sanity check of determinism). */
export async function sameTwice(driver: DriverDefinition): Promise<boolean> {
  const arb = runArb(driver, {});
  const a = arb.generate(new fc.Random(xoroshiro128plus(runSeed(3, 0))), undefined).value_;
  const b = arb.generate(new fc.Random(xoroshiro128plus(runSeed(3, 0))), undefined).value_;
  const ra = await runSample(driver, a, {});
  const rb = await runSample(driver, b, {});
  return JSON.stringify(ra.run) === JSON.stringify(rb.run);
}
