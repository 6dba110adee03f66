/**
 * What starting hmmlab costs: `hmmlab --version`, and the fixed cost of `hmmlab fuzz` (a 1-run
 * campaign of a small TypeScript driver: start, type check, worker thread, tsx, the driver's
 * probe, one run, the report), each against `node -e 0` launched in the same rounds. Launches
 * the built command (packages/cli/bin/hmmlab.js over dist), as a user's shell would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { median } from './measure.js';

/** Wall-clock milliseconds of each launch of one command, and their median. */
export interface Launches {
  readonly medianMs: number;
  readonly ms: readonly number[];
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
}

const BIN = 'packages/cli/bin/hmmlab.js';

function launch(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`bench: node ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0]}`);
  return ms;
}

const launches = (ms: number[]): Launches => ({ medianMs: Math.round(median(ms)), ms: ms.map((x) => Math.round(x)) });

/** Measures `rounds` rounds, each launching every command once, in the working directory (the repo root). */
export function startup(driver: string, rounds: number): Startup {
  if (!existsSync('packages/cli/dist/main.js')) throw new Error('bench: packages/cli/dist is missing; build first (npx tsc -b)');
  // As a user's shell starts it: without the source condition the bench itself runs under.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const fuzzArgs = [BIN, 'fuzz', driver, '--runs', '1', '--no-corpus', '--quiet'];
  const times = { node: [] as number[], version: [] as number[], fuzz: [] as number[], edited: [] as number[] };
  const { atime, mtime } = statSync(driver);
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
  return {
    rounds,
    driver,
    node: launches(times.node),
    version: launches(times.version),
    fuzz: launches(times.fuzz),
    fuzzAfterEdit: launches(times.edited),
  };
}
