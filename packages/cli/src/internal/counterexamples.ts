/**
 * Saved counterexamples: when `hmmlab fuzz` finds a violation in a driver that has no known bug
 * (no expected.json), it keeps the replay token in `<corpus>/<driver>/counterexamples/`, one JSON
 * file per token, beside the corpus. `hmmlab test --corpus <corpus>` replays every one of them,
 * so a race that was fixed stays fixed. A file names its driver module by a path relative to its
 * own folder, so the corpus can be committed and checked out anywhere.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { UsageError } from './usage.js';

/** The format tag of counterexample files. */
const FORMAT = 'hmmlab-counterexample-1';

/** The folder of a driver's corpus that holds its counterexamples. */
const FOLDER = 'counterexamples';

/** A saved counterexample. */
export interface SavedCounterexample {
  /** The driver's name. */
  readonly driver: string;
  /** The driver module, relative to the file's folder (`/`-separated). */
  readonly module: string;
  readonly rule: string;
  readonly seed: number;
  readonly runIndex: number;
  readonly token: string;
}

/**
 * Saves a counterexample of the driver module `file` in the driver's corpus folder `dir`; returns
 * the file written (the same token always goes to the same file).
 */
export function saveCounterexample(dir: string, file: string, c: Omit<SavedCounterexample, 'module'>): string {
  const folder = join(dir, FOLDER);
  mkdirSync(folder, { recursive: true });
  const name = `${createHash('sha256').update(c.token).digest('hex').slice(0, 16)}.json`;
  const module = relative(resolve(folder), resolve(file)).split(sep).join('/');
  const body = { format: FORMAT, driver: c.driver, module, rule: c.rule, seed: c.seed, runIndex: c.runIndex, token: c.token };
  const path = join(folder, name);
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}

/** Every counterexample file under `base` (in `…/counterexamples/*.json`, three levels deep), sorted. */
export function findCounterexamples(base: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(base);
  } catch {
    throw new UsageError(`--corpus ${base}: no such folder`);
  }
  if (!st.isDirectory()) throw new UsageError(`--corpus ${base}: not a folder`);
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.') || e.name === 'node_modules') continue;
      const sub = join(dir, e.name);
      if (e.name === FOLDER) {
        for (const f of readdirSync(sub)) if (f.endsWith('.json')) out.push(join(sub, f));
      } else if (depth < 3) {
        walk(sub, depth + 1);
      }
    }
  };
  walk(base, 0);
  return out.sort();
}

/** Reads a counterexample file; throws an Error whose message says what is wrong with it. */
export function readCounterexample(path: string): SavedCounterexample & { readonly file: string } {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new Error('not JSON');
  }
  if (typeof body !== 'object' || body === null || body.format !== FORMAT)
    throw new Error(`not a counterexample (no "format": "${FORMAT}")`);
  const { driver, module, rule, seed, runIndex, token } = body;
  if (typeof driver !== 'string' || typeof module !== 'string' || typeof rule !== 'string' || typeof token !== 'string') {
    throw new Error('"driver", "module", "rule" and "token" must be strings');
  }
  if (!Number.isInteger(seed) || !Number.isInteger(runIndex)) throw new Error('"seed" and "runIndex" must be integers');
  return { driver, module, rule, seed: seed as number, runIndex: runIndex as number, token, file: resolve(dirname(path), module) };
}
