/**
 * What starting hmmlab costs: `hmmlab --version`, and the fixed cost of `hmmlab fuzz` (a 1-run
 * campaign of a small TypeScript driver: start, type check, worker thread, tsx, the driver's
 * probe, one run, the report), each against `node -e 0` launched in the same rounds. Launches
 * the built command (packages/cli/bin/hmmlab.js over dist), as a user's shell would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { loadavg } from 'node:os';
import { median } from './measure.js';

/**
 * Wall-clock milliseconds of each launch of one command and their median, and the median CPU time
 * of a launch (user and system, all threads; on Linux, else null): on a busy machine the wall
 * clock grows with the load, the CPU time much less.
 */
export interface Launches {
  readonly medianMs: number;
  readonly ms: readonly number[];
  readonly cpuMedianMs: number | null;
}

/** The startup figures. */
export interface Startup {
  readonly rounds: number;
  readonly driver: string;
  /** `node -e 0`. */
  readonly node: Launches;
  /** `hmmlab --version`. */
  readonly version: Launches;
  /** `hmmlab fuzz <driver> --runs 1`, the driver unchanged since the previous launch. */
  readonly fuzz: Launches;
  /** The same right after the driver file changed, so that its type check runs again. */
  readonly fuzzAfterEdit: Launches;
  /** The one-minute load average of the machine before and after the rounds (other work slows every launch). */
  readonly loadAverage: readonly [number, number];
}

const BIN = 'packages/cli/bin/hmmlab.js';

/** CPU milliseconds of this process's waited-for children so far (Linux: /proc/self/stat), or null. */
function childrenCpuMs(): number | null {
  try {
    // cutime and cstime, fields 16 and 17 of the line (13 and 14 after the command name), in clock ticks of 10 ms.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return null;
  }
}

interface Launch {
  readonly ms: number;
  readonly cpuMs: number | null;
}

function launch(args: readonly string[], env: NodeJS.ProcessEnv): Launch {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = performance.now() - t0;
  const cpu1 = childrenCpuMs();
  if (r.status !== 0) throw new Error(`bench: node ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0]}`);
  return { ms, cpuMs: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
}

function launches(xs: readonly Launch[]): Launches {
  const cpu = xs.map((x) => x.cpuMs);
  return {
    medianMs: Math.round(median(xs.map((x) => x.ms))),
    ms: xs.map((x) => Math.round(x.ms)),
    cpuMedianMs: cpu.every((c) => c !== null) ? Math.round(median(cpu as number[])) : null,
  };
}

/** Measures `rounds` rounds, each launching every command once, in the working directory (the repo root). */
export function startup(driver: string, rounds: number): Startup {
  if (!existsSync('packages/cli/dist/main.js')) throw new Error('bench: packages/cli/dist is missing; build first (npx tsc -b)');
  // As a user's shell starts it: without the source condition the bench itself runs under.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const fuzzArgs = [BIN, 'fuzz', driver, '--runs', '1', '--no-corpus', '--quiet'];
  const times = { node: [] as Launch[], version: [] as Launch[], fuzz: [] as Launch[], edited: [] as Launch[] };
  const { atime, mtime } = statSync(driver);
  const loadBefore = loadavg()[0] ?? 0;
  try {
    launch(fuzzArgs, env); // the first launch reads files the later ones find in the page cache
    for (let i = 0; i < rounds; i++) {
      times.node.push(launch(['-e', '0'], env));
      times.version.push(launch([BIN, '--version'], env));
      times.fuzz.push(launch(fuzzArgs, env));
      const now = new Date();
      utimesSync(driver, now, now);
      times.edited.push(launch(fuzzArgs, env));
    }
  } finally {
    utimesSync(driver, atime, mtime);
  }
  const loadAfter = loadavg()[0] ?? 0;
  return {
    rounds,
    driver,
    node: launches(times.node),
    version: launches(times.version),
    fuzz: launches(times.fuzz),
    fuzzAfterEdit: launches(times.edited),
    loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))],
  };
}

/** Launches of short campaigns in fresh processes, by run count: the hosts' own tiers against V8's. */
export interface ShortCampaigns {
  readonly driver: string;
  readonly rounds: number;
  /** Run count → launches as hmmlab starts its hosts (TurboFan off until a long campaign or 2 s of runs) and with `node --turbofan` (V8's tiers from the start). */
  readonly byRuns: Readonly<Record<string, { readonly deferred: Launches; readonly turbofan: Launches }>>;
  readonly loadAverage: readonly [number, number];
}

/**
 * `hmmlab fuzz <driver> --runs N` for each N of `runs`, launched as a user launches it and with
 * `node --turbofan` before the command, which the hosts then keep (a caller's choice of tiers),
 * alternating which goes first in each round.
 */
export function shortCampaigns(driver: string, runs: readonly number[], rounds: number): ShortCampaigns {
  if (!existsSync('packages/cli/dist/main.js')) throw new Error('bench: packages/cli/dist is missing; build first (npx tsc -b)');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const args = (n: number): string[] => [BIN, 'fuzz', driver, '--runs', String(n), '--no-corpus', '--no-typecheck', '--quiet'];
  const loadBefore = loadavg()[0] ?? 0;
  launch(args(1), env);
  const byRuns: Record<string, { deferred: Launches; turbofan: Launches }> = {};
  for (const n of runs) {
    const deferred: Launch[] = [];
    const turbofan: Launch[] = [];
    for (let i = 0; i < rounds; i++) {
      const pair = [() => deferred.push(launch(args(n), env)), () => turbofan.push(launch(['--turbofan', ...args(n)], env))];
      if (i % 2 === 1) pair.reverse();
      for (const go of pair) go();
    }
    byRuns[String(n)] = { deferred: launches(deferred), turbofan: launches(turbofan) };
  }
  const loadAfter = loadavg()[0] ?? 0;
  return { driver, rounds, byRuns, loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))] };
}

/** Launches of one `hmmlab fuzz` of several drivers, one driver at a time and several at once. */
export interface SeveralDrivers {
  readonly drivers: readonly string[];
  readonly runs: number;
  readonly rounds: number;
  /** `--jobs` → its launches. */
  readonly byJobs: Readonly<Record<string, Launches>>;
  readonly loadAverage: readonly [number, number];
}

/**
 * `hmmlab fuzz <drivers…> --runs N --jobs J` for each J of `jobs`, `rounds` times, the order of
 * the J rotating from round to round: the wall clock of the whole command, and its CPU.
 */
export function severalDrivers(drivers: readonly string[], runs: number, jobs: readonly number[], rounds: number): SeveralDrivers {
  if (!existsSync('packages/cli/dist/main.js')) throw new Error('bench: packages/cli/dist is missing; build first (npx tsc -b)');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const args = (j: number): string[] => [
    BIN,
    'fuzz',
    ...drivers,
    '--runs',
    String(runs),
    '--jobs',
    String(j),
    '--no-corpus',
    '--no-typecheck',
    '--quiet',
  ];
  const loadBefore = loadavg()[0] ?? 0;
  const got = new Map<number, Launch[]>(jobs.map((j) => [j, []]));
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < jobs.length; k++) {
      const j = jobs[(i + k) % jobs.length] as number;
      got.get(j)?.push(launch(args(j), env));
    }
  }
  const loadAfter = loadavg()[0] ?? 0;
  const byJobs: Record<string, Launches> = {};
  for (const [j, xs] of got) byJobs[String(j)] = launches(xs);
  return { drivers, runs, rounds, byJobs, loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))] };
}
