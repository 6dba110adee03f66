/**
 * Campaigns as a user runs them: `hmmlab fuzz <driver> --runs N --workers W --json`, the built
 * command in a process of its own, with its watched worker's host process, type check and report.
 * The campaign's own time is the report's `elapsedMs` (from the first worker's start to the
 * result); the launch's wall clock adds starting hmmlab and the type check. Rounds alternate the
 * worker counts, so that each count meets the machine's load alike.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { median } from './measure.js';

/** The figures of one worker count. */
export interface CliCampaignFigures {
  /** Median `elapsedMs` of the rounds. */
  readonly medianMs: number;
  readonly ms: readonly number[];
  /** Runs per second of the median round (`runs / elapsedMs`). */
  readonly scenariosPerSec: number;
  /** Median wall clock of the whole launch. */
  readonly launchMedianMs: number;
}

/** Campaigns through `hmmlab fuzz`, by worker count. */
export interface CliCampaigns {
  readonly driver: string;
  readonly runs: number;
  readonly rounds: number;
  /** Worker count (`--workers`) → its figures. */
  readonly byWorkers: Readonly<Record<string, CliCampaignFigures>>;
  /** The one-minute load average before and after the rounds. */
  readonly loadAverage: readonly [number, number];
}

const BIN = 'packages/cli/bin/hmmlab.js';

/** One campaign: its reported `elapsedMs` and the launch's wall clock. */
function campaign(
  driver: string,
  runs: number,
  workers: number,
  seed: number,
  env: NodeJS.ProcessEnv,
): { elapsedMs: number; launchMs: number } {
  const args = [BIN, 'fuzz', driver, '--runs', String(runs), '--workers', String(workers), '--seed', String(seed), '--no-corpus', '--json'];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const launchMs = performance.now() - t0;
  if (r.status !== 0)
    throw new Error(`bench: hmmlab ${args.slice(1).join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0]}`);
  const report = JSON.parse(r.stdout) as { drivers: { runs: number; elapsedMs: number }[] };
  const d = report.drivers[0];
  if (d === undefined || d.runs !== runs) throw new Error(`bench: hmmlab fuzz ${driver} made ${d?.runs ?? 0} runs of ${runs}`);
  return { elapsedMs: d.elapsedMs, launchMs };
}

/** `rounds` rounds of one campaign of `runs` runs per worker count, seeded 1, 2, … by round. */
export function cliCampaigns(driver: string, runs: number, rounds: number, workers: readonly number[]): CliCampaigns {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const got = new Map<number, { elapsedMs: number; launchMs: number }[]>(workers.map((w) => [w, []]));
  const loadBefore = loadavg()[0] ?? 0;
  for (let i = 0; i < rounds; i++) {
    // Rotate the order, so that no count always runs first in a round.
    for (let j = 0; j < workers.length; j++) {
      const w = workers[(i + j) % workers.length] as number;
      got.get(w)?.push(campaign(driver, runs, w, i + 1, env));
    }
  }
  const loadAfter = loadavg()[0] ?? 0;
  const byWorkers: Record<string, CliCampaignFigures> = {};
  for (const [w, xs] of got) {
    const ms = median(xs.map((x) => x.elapsedMs));
    byWorkers[String(w)] = {
      medianMs: Math.round(ms),
      ms: xs.map((x) => x.elapsedMs),
      scenariosPerSec: Math.round((runs * 1000) / ms),
      launchMedianMs: Math.round(median(xs.map((x) => x.launchMs))),
    };
  }
  return { driver, runs, rounds, byWorkers, loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))] };
}
