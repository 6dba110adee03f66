/**
 * Coverage feedback: runs that reach a coverage cell or race window no earlier run reached are
 * kept (scenario and schedule together) in a corpus, and a share of later runs are mutations of
 * corpus entries (ops inserted, deleted, changed or swapped; the schedule perturbed), as
 * syzkaller's coverage-guided corpus and Coyote's state-guided exploration steer toward states not
 * seen yet. Everything is drawn from the campaign seed and the run index, and the corpus a run
 * draws from is the one at the start of its epoch (a fixed block of runs), so a campaign is the
 * same on any machine and with any number of workers. The corpus is also kept between campaigns
 * as one JSON file per entry.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Coverage } from '@hmmlab/assertions';
import { HmmlabError } from '@hmmlab/core';
import { type OpSpec, type RegionSpec, type Scenario, type TaskSpec, validateScenario } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { cpuOpGen, deviceOpGen, driverOpGen, kernelOpGen, type ScenarioShape } from './arbitraries.js';
import type { Schedule } from './schedule.js';

/** A kept run: its scenario and schedule, and the coverage keys it reached. */
export interface CorpusEntry {
  readonly scenario: Scenario;
  readonly schedule: Schedule;
  /** Coverage keys the run reached (`cell|…`, `window|…`), sorted. */
  readonly keys: readonly string[];
}

/** Runs per epoch: a run draws mutations from the corpus as it was at the start of its epoch. */
const EPOCH = 50;

/** Percentage of the runs after the first epoch that mutate a corpus entry instead of generating afresh. */
const MUTATION_SHARE = 10;

/** The coverage keys of a run's report: every cell and race window it reached. */
export function coverageKeys(c: Coverage): string[] {
  const out: string[] = [];
  for (const k of Object.keys(c.cells)) out.push(prefixed(cellKeys, 'cell|', k));
  for (const k of Object.keys(c.windows)) out.push(prefixed(windowKeys, 'window|', k));
  return out.sort();
}

// The keys of coverageKeys, made once per process: a run reaches the same few cells as the runs
// before it, and a key built anew is a fresh string that every lookup of it hashes again.
const cellKeys = new Map<string, string>();
const windowKeys = new Map<string, string>();

function prefixed(made: Map<string, string>, prefix: string, k: string): string {
  let key = made.get(k);
  if (key === undefined) {
    key = prefix + k;
    made.set(k, key);
  }
  return key;
}

/**
 * The epochs of a campaign of `runs` runs that first replays `replays` corpus entries: the replays
 * are one epoch, then blocks of {@link EPOCH} runs.
 */
export function epochs(runs: number, replays: number): [number, number][] {
  const out: [number, number][] = [];
  const first = Math.min(replays, runs);
  if (first > 0) out.push([0, first]);
  for (let from = first; from < runs; from += EPOCH) out.push([from, Math.min(runs, from + EPOCH)]);
  return out;
}

/** The epoch of {@link epochs} that starts where an epoch ends at `to`; null after the last one, or when `to` ends none. */
export function nextEpoch(to: number, runs: number, replays: number): [number, number] | null {
  const first = Math.min(replays, runs);
  if (to >= runs || to < first || (to - first) % EPOCH !== 0) return null;
  return [to, Math.min(runs, to + EPOCH)];
}

/** A run's coverage keys, for merging into the campaign's corpus at the end of its epoch. */
export interface Candidate {
  readonly index: number;
  readonly entry: CorpusEntry;
}

/**
 * Merges an epoch's candidates, in run order, into the corpus: a candidate is kept if it reached a
 * key not in `known` (which grows as candidates are kept). Returns the entries kept.
 */
export function absorb(candidates: readonly Candidate[], known: Set<string>): CorpusEntry[] {
  const kept: CorpusEntry[] = [];
  for (const c of [...candidates].sort((a, b) => a.index - b.index)) {
    if (c.entry.keys.every((k) => known.has(k))) continue;
    for (const k of c.entry.keys) known.add(k);
    kept.push(c.entry);
  }
  return kept;
}

/**
 * How often each pool entry is picked for mutation: the sum over its keys of 1 / (runs that
 * reached the key so far), so entries that reached what few runs reach are mutated most (AFLFast's
 * and syzkaller's preference for rare coverage). `hits` are the campaign's key counts at the start
 * of the epoch.
 */
export function poolWeights(
  pool: readonly CorpusEntry[],
  hits: { cells?: Record<string, number>; windows?: Record<string, number> },
): number[] {
  // Entries share most of their keys: each key's share is computed once per call.
  const shares = new Map<string, number>();
  const share = (k: string): number => {
    let w = shares.get(k);
    if (w === undefined) {
      const bar = k.indexOf('|');
      const kind = bar < 0 ? k : k.slice(0, bar);
      const n = (kind === 'cell' ? hits.cells : hits.windows)?.[bar < 0 ? '' : k.slice(bar + 1)] ?? 0;
      w = 1 / Math.max(1, n);
      shares.set(k, w);
    }
    return w;
  };
  return pool.map((e) => e.keys.reduce((w, k) => w + share(k), 0));
}

/** Salt of the random stream that decides whether a run mutates and how (apart from the fresh runs' stream). */
const MUTATION_SALT = 0x6d757461;

/** What the mutations may generate: the campaign's scenario shape. */
export interface MutationShape {
  readonly shape: ScenarioShape;
  /** Mutate the schedule too (not under exhaustive search, which enumerates schedules itself). */
  readonly schedules: boolean;
}

/**
 * The random stream of run `f`'s mutation, past the draw that decides it; null when the run
 * generates afresh whatever the corpus holds (it does not depend on the corpus).
 */
function mutationRandom(seed: number, f: number, mix: (seed: number, index: number) => number): fc.Random | null {
  const rng = new fc.Random(xoroshiro128plus(mix(seed ^ MUTATION_SALT, f)));
  return rng.nextInt(0, 99) >= MUTATION_SHARE ? null : rng;
}

/** True when run `f` is a mutant as soon as the corpus holds an entry ({@link mutantOf}). */
export function mutatesOnceFed(seed: number, f: number, mix: (seed: number, index: number) => number): boolean {
  return mutationRandom(seed, f, mix) !== null;
}

/**
 * The mutant of run `f` (counted from the first generated run) of a campaign seeded `seed`, or null
 * when the run generates afresh: null when the corpus is empty, else with probability
 * {@link MUTATION_SHARE}%. `mix` is the campaign's per-run seed mix.
 */
export function mutantOf(
  pool: readonly CorpusEntry[],
  weights: readonly number[],
  seed: number,
  f: number,
  mix: (seed: number, index: number) => number,
  m: MutationShape,
): [Scenario, Schedule] | null {
  const rng = pool.length === 0 ? null : mutationRandom(seed, f, mix);
  if (rng === null) return null;
  const parent = pool[pickWeighted(weights, pool.length, rng)] as CorpusEntry;
  let scenario = parent.scenario;
  let schedule = parent.schedule;
  const n = rng.nextInt(1, 3);
  for (let i = 0; i < n; i++) {
    if (m.schedules && rng.nextInt(0, 3) === 0) schedule = perturb(schedule, rng);
    else scenario = mutateOps(scenario, rng, m.shape);
  }
  return [scenario, schedule];
}

/** An index below `n`, with probability proportional to `weights` (uniform when they do not fit). */
function pickWeighted(weights: readonly number[], n: number, rng: fc.Random): number {
  const total = weights.length === n ? weights.reduce((a, b) => a + b, 0) : 0;
  if (!(total > 0)) return rng.nextInt(0, n - 1);
  let x = rng.nextDouble() * total;
  for (let i = 0; i < n; i++) {
    x -= weights[i] as number;
    if (x < 0) return i;
  }
  return n - 1;
}

const MAX_OPS = 8;

/** A fresh op for a task of `kind` over `regions`, or null for a kind this module does not generate. */
function freshOp(kind: TaskSpec['kind'], regions: readonly RegionSpec[], rng: fc.Random, shape: ScenarioShape): OpSpec | null {
  const gen =
    kind === 'cpu'
      ? cpuOpGen(regions, { fork: shape.fork ?? true, exit: shape.exit ?? true })
      : kind === 'device'
        ? deviceOpGen(regions, shape.devices ?? 1)
        : kind === 'driver'
          ? driverOpGen(regions, {}, shape.commands, shape.bindDevices)
          : kind === 'kernel'
            ? kernelOpGen(regions)
            : null;
  return gen === null ? null : gen.draw(rng);
}

/** One op mutation: insert a fresh op, delete one, replace one with a fresh one, or swap two. */
function mutateOps(s: Scenario, rng: fc.Random, shape: ScenarioShape): Scenario {
  const t = rng.nextInt(0, s.tasks.length - 1);
  const task = s.tasks[t] as TaskSpec;
  const ops = [...task.ops];
  const what = rng.nextInt(0, 3);
  const at = rng.nextInt(0, ops.length - 1);
  if (what === 0 && ops.length < MAX_OPS) {
    const op = freshOp(task.kind, s.regions, rng, shape) ?? (ops[at] as OpSpec);
    ops.splice(rng.nextInt(0, ops.length), 0, op);
  } else if (what === 1 && ops.length > 1) {
    ops.splice(at, 1);
  } else if (what === 2 || ops.length < 2) {
    const op = freshOp(task.kind, s.regions, rng, shape);
    if (op !== null) ops[at] = op;
  } else {
    const b = rng.nextInt(0, ops.length - 1);
    [ops[at], ops[b]] = [ops[b] as OpSpec, ops[at] as OpSpec];
  }
  return { ...s, tasks: s.tasks.map((x, i) => (i === t ? { ...x, ops } : x)) };
}

/** A schedule perturbation: one PCT priority, change point or fair tail redrawn; one random-walk choice redrawn. */
function perturb(s: Schedule, rng: fc.Random): Schedule {
  if (s.kind === 'random') {
    const choices = [...s.choices];
    const at = rng.nextInt(0, choices.length);
    choices[at] = rng.nextInt(0, 7);
    return { kind: 'random', choices };
  }
  const what = rng.nextInt(0, 2);
  if (what === 0) {
    const priorities = [...s.priorities];
    priorities[rng.nextInt(0, priorities.length - 1)] = rng.nextInt(0, 1000);
    return { ...s, priorities };
  }
  if (what === 1) {
    const changes = [...s.changes];
    changes[rng.nextInt(0, changes.length)] = rng.nextInt(0, 32);
    return { ...s, changes };
  }
  const { fair: _f, ...rest } = s;
  return s.fair === undefined ? { ...rest, fair: rng.nextInt(0, 32) } : rest;
}

/** The corpus folder of a driver under `base` (`.hmmlab/corpus` by default): its name, made safe as a file name. */
export function corpusDir(base: string, driver: string): string {
  return join(base, driver.replace(/[^A-Za-z0-9._-]/g, '_') || 'driver');
}

/** The stable file name of an entry: a hash of its scenario and schedule. */
function entryFile(e: CorpusEntry): string {
  return `${createHash('sha256')
    .update(JSON.stringify([e.scenario, e.schedule]))
    .digest('hex')
    .slice(0, 16)}.json`;
}

/**
 * A digest of corpus entries, in order: campaigns that replay entries with the same digest replay
 * the same runs first (how `hmmlab merge` tells that shards started from the same corpus).
 */
export function corpusDigest(entries: readonly CorpusEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(JSON.stringify([e.scenario, e.schedule])).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** The format tag of corpus files. */
const FORMAT = 'hmmlab-corpus-1';

function isSchedule(v: unknown): v is Schedule {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  const nats = (x: unknown): boolean => Array.isArray(x) && x.every((n) => Number.isInteger(n) && (n as number) >= 0);
  if (s.kind === 'random') return nats(s.choices);
  return s.kind === 'pct' && nats(s.priorities) && nats(s.changes) && (s.fair === undefined || nats([s.fair]));
}

/** Parses one corpus file; throws an Error whose message says what is wrong with it. */
function parseEntry(text: string): CorpusEntry {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  const b = body as Record<string, unknown>;
  if (typeof body !== 'object' || body === null || b.format !== FORMAT) throw new Error(`not a corpus entry (no "format": "${FORMAT}")`);
  const problem = corpusEntryProblem(b);
  if (problem !== null) throw new Error(problem);
  return { scenario: b.scenario as Scenario, schedule: b.schedule as Schedule, keys: b.keys as string[] };
}

/** What is wrong with `e` as a corpus entry (its schedule, keys or scenario), or null. */
export function corpusEntryProblem(e: unknown): string | null {
  if (typeof e !== 'object' || e === null) return 'not an object with scenario, schedule and keys';
  const b = e as Record<string, unknown>;
  if (!isSchedule(b.schedule)) return 'its schedule is not valid';
  if (!Array.isArray(b.keys) || !b.keys.every((k) => typeof k === 'string')) return 'its keys are not a list of strings';
  try {
    validateScenario(b.scenario as Scenario);
  } catch (e) {
    return `its scenario is not valid (${e instanceof Error ? e.message : String(e)})`;
  }
  return null;
}

/** What {@link readCorpus} found: the entries, in file-name order, and the files it skipped with why. */
export interface LoadedCorpus {
  readonly entries: CorpusEntry[];
  readonly skipped: { readonly file: string; readonly reason: string }[];
}

/** Reads the `*.json` entries of a corpus folder (none if it does not exist), skipping bad files. */
export function readCorpus(dir: string): LoadedCorpus {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], skipped: [] };
    throw new HmmlabError('ERR_BAD_ARGUMENT', `corpus folder ${dir}: cannot read it (${e instanceof Error ? e.message : String(e)})`);
  }
  const entries: CorpusEntry[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const n of names.sort()) {
    const file = join(dir, n);
    try {
      entries.push(parseEntry(readFileSync(file, 'utf8')));
    } catch (e) {
      skipped.push({ file, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return { entries, skipped };
}

/** Writes entries not yet in the folder (by file name); returns how many it wrote. */
export function writeCorpus(dir: string, entries: readonly CorpusEntry[], driver: string): number {
  mkdirSync(dir, { recursive: true });
  const have = new Set(readdirSync(dir));
  let added = 0;
  for (const e of entries) {
    const name = entryFile(e);
    if (have.has(name)) continue;
    const body = { format: FORMAT, driver, scenario: e.scenario, schedule: e.schedule, keys: e.keys };
    writeFileSync(join(dir, name), `${JSON.stringify(body, null, 2)}\n`);
    have.add(name);
    added++;
  }
  return added;
}
