/**
 * `hmmlab merge`: joins the `--json` results of the shards of one campaign (`hmmlab fuzz --shard
 * i/n`) into the result of the campaign. The counterexample is the one of the lowest failing run
 * index over all shards, which is the one campaign's first failing run: every shard scans its runs
 * in index order up to its first failure. Coverage hits and flush counts are summed over the runs
 * the shards ran; a shard that found a violation stops there while the others go on, so after a
 * violation these cover more runs than one campaign, which stops at its first, would.
 */
import { coverageNotes, mergeCoverage, mergeFlushes } from '@hmmlab/fuzz';
import { UsageError } from './usage.js';

/** The fields of a `fuzz --json` entry the merge reads (schema/hmmlab-result.schema.json). */
interface Counts {
  needed: number;
  performed: number;
  missed: number;
  unnecessary: number;
  legalSkips: number;
}

interface Entry {
  driver: string;
  file: string;
  status: string;
  expected: string[] | null;
  violations: { rule: string }[];
  replay: string | null;
  failingRun?: number | null;
  scenario: unknown;
  shrunk: unknown;
  runs: number;
  elapsedMs: number;
  seed: number;
  strategy: string;
  coverage: {
    cells: Record<string, number>;
    windows: Record<string, number>;
    missingCells: string[];
    missingWindows: string[];
    expectedCells: number;
    reachedCells: number;
    notes: string[];
  };
  flushes: { total: Counts; byEvent: Record<string, Counts> };
  corpus: {
    dir: string | null;
    loaded: number;
    skipped: number;
    added: number;
    replayed: number;
    mutants: number;
    newCoverage: number;
    counterexample?: string | null;
  };
  campaign?: Record<string, unknown> & { runs: number; requireWindows: string[] | null };
  shard?: { index: number; count: number } | null;
}

interface Doc {
  schemaVersion: number;
  command: string;
  hmmlabVersion: string;
  interrupted?: boolean;
  drivers: Entry[];
}

/** One shard's result file. */
export interface ShardFile {
  /** How to name it in messages (its path). */
  readonly name: string;
  readonly text: string;
}

/** What merging gave: the merged document, one entry per driver, and warnings to print. */
export interface Merged {
  readonly schemaVersion: number;
  readonly command: 'fuzz';
  readonly hmmlabVersion: string;
  readonly drivers: readonly MergedEntry[];
  /** Shards that ran fewer runs than their share without a violation (a --time limit). */
  readonly warnings: readonly string[];
}

/** A merged driver entry: a `fuzz --json` entry with `merged`. */
export type MergedEntry = Entry & { readonly merged: { readonly shards: number; readonly complete: boolean } };

const SCHEMA_VERSION = 1;

function parse(f: ShardFile): Doc {
  let doc: unknown;
  try {
    doc = JSON.parse(f.text);
  } catch {
    throw new UsageError(`merge: ${f.name}: not JSON; expected the output of hmmlab fuzz --shard i/n --json`);
  }
  const d = doc as Partial<Doc> | null;
  if (typeof d !== 'object' || d === null || typeof d.schemaVersion !== 'number' || !Array.isArray(d.drivers)) {
    throw new UsageError(`merge: ${f.name}: not an hmmlab result; expected the output of hmmlab fuzz --shard i/n --json`);
  }
  if (d.schemaVersion !== SCHEMA_VERSION)
    throw new UsageError(`merge: ${f.name}: schemaVersion ${d.schemaVersion}, expected ${SCHEMA_VERSION}`);
  if (d.command !== 'fuzz')
    throw new UsageError(`merge: ${f.name}: the result of hmmlab ${d.command}, expected one of hmmlab fuzz --shard i/n`);
  if (d.drivers.length === 0) throw new UsageError(`merge: ${f.name}: no driver in it`);
  if (d.interrupted === true) throw new UsageError(`merge: ${f.name}: that shard was interrupted; run it again`);
  for (const [i, e] of d.drivers.entries()) {
    if (typeof e !== 'object' || e === null || typeof e.driver !== 'string') {
      throw new UsageError(
        `merge: ${f.name}: entry ${i} of "drivers" names no driver; expected the output of hmmlab fuzz --shard i/n --json`,
      );
    }
    if (e.shard === undefined || e.shard === null || e.campaign === undefined) {
      throw new UsageError(`merge: ${f.name}: driver ${e.driver} was not fuzzed as a shard; run hmmlab fuzz --shard i/n --json`);
    }
  }
  return d as Doc;
}

/** `name`'s value in both campaigns, as JSON, when they differ. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
    const x = JSON.stringify(a[k] ?? null);
    const y = JSON.stringify(b[k] ?? null);
    if (x !== y) return `${k} ${y} where the first has ${x}`;
  }
  return null;
}

/** Checks that the documents are the shards 1..n of one campaign; returns them ordered by shard. */
function checkShards(docs: readonly { name: string; doc: Doc }[]): { name: string; doc: Doc }[] {
  const first = docs[0] as { name: string; doc: Doc };
  const shardOf = (x: { doc: Doc }): { index: number; count: number } =>
    (x.doc.drivers[0]?.shard as { index: number; count: number } | undefined) ?? { index: 0, count: 0 };
  const n = shardOf(first).count;
  for (const x of docs) {
    if (x.doc.hmmlabVersion !== first.doc.hmmlabVersion) {
      throw new UsageError(
        `merge: ${x.name} was made by hmmlab ${x.doc.hmmlabVersion}, ${first.name} by ${first.doc.hmmlabVersion}; shards must run one version`,
      );
    }
    const names = x.doc.drivers.map((e) => `${e.driver} (${e.file})`);
    const want = first.doc.drivers.map((e) => `${e.driver} (${e.file})`);
    if (names.join('\n') !== want.join('\n')) {
      throw new UsageError(`merge: ${x.name} fuzzed ${names.join(', ') || 'no driver'}, ${first.name} ${want.join(', ') || 'no driver'}`);
    }
    for (const [i, e] of x.doc.drivers.entries()) {
      const s = e.shard as { index: number; count: number };
      if (s.count !== n) throw new UsageError(`merge: ${x.name} is shard ${s.index}/${s.count}, ${first.name} one of ${n} shards`);
      if (s.index !== shardOf(x).index) throw new UsageError(`merge: ${x.name}: its drivers name different shards`);
      const diff = firstDifference(
        (first.doc.drivers[i] as Entry).campaign as Record<string, unknown>,
        e.campaign as Record<string, unknown>,
      );
      if (diff !== null) throw new UsageError(`merge: ${x.name} ran another campaign of ${e.driver} than ${first.name}: ${diff}`);
    }
  }
  const byIndex = new Map<number, { name: string; doc: Doc }>();
  for (const x of docs) {
    const i = shardOf(x).index;
    const seen = byIndex.get(i);
    if (seen !== undefined) throw new UsageError(`merge: ${seen.name} and ${x.name} are both shard ${i}/${n}`);
    byIndex.set(i, x);
  }
  const missing = Array.from({ length: n }, (_x, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new UsageError(
      `merge: shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${n}`).join(', ')} missing; give the results of all ${n} shards`,
    );
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, x]) => x);
}

/** How many of a campaign's `runs` runs belong to shard `index` (from 1) of `count`. */
function share(runs: number, index: number, count: number): number {
  return Math.max(0, Math.ceil((runs - (index - 1)) / count));
}

/** Judges a merged entry as `hmmlab fuzz` judges a campaign. */
function status(expected: string[] | null, rule: string | undefined, requiredMissing: boolean): string {
  if (expected === null) return rule === undefined && !requiredMissing ? 'pass' : 'fail';
  if (rule === undefined) return 'missed';
  return expected.includes(rule) ? 'caught' : 'wrong-rule';
}

function mergeEntry(parts: readonly { name: string; e: Entry }[], warnings: string[]): MergedEntry {
  const base = (parts[0] as { e: Entry }).e;
  const campaign = base.campaign as NonNullable<Entry['campaign']>;
  const failing = parts
    .filter((p) => p.e.violations.length > 0 && typeof p.e.failingRun === 'number')
    .sort((a, b) => (a.e.failingRun as number) - (b.e.failingRun as number))[0]?.e;
  const coverage: Record<string, Record<string, number>> = { cells: {}, windows: {} };
  const flushes = { total: { needed: 0, performed: 0, missed: 0, unnecessary: 0, legalSkips: 0 }, byEvent: {} };
  let complete = true;
  for (const { name, e } of parts) {
    mergeCoverage(coverage, { cells: e.coverage.cells, windows: e.coverage.windows });
    mergeFlushes(flushes, e.flushes);
    const s = e.shard as { index: number; count: number };
    const owed = share(campaign.runs, s.index, s.count);
    if (e.violations.length === 0 && e.runs < owed) {
      complete = false;
      warnings.push(
        `${e.driver}: shard ${s.index}/${s.count} (${name}) ran ${e.runs} of its ${owed} runs (a --time limit?): the merged result covers fewer runs than the campaign`,
      );
    }
  }
  const cells = coverage.cells ?? {};
  const windows = coverage.windows ?? {};
  const runs = parts.reduce((n, p) => n + p.e.runs, 0);
  const missingCells = base.coverage.missingCells.filter((c) => parts.every((p) => p.e.coverage.missingCells.includes(c)));
  const missingWindows = base.coverage.missingWindows.filter((w) => (windows[w] ?? 0) === 0);
  const reached = base.coverage.expectedCells - missingCells.length;
  const requiredMissing = (campaign.requireWindows ?? []).some((w) => (windows[w] ?? 0) === 0);
  const rule = failing?.violations[0]?.rule;
  const sum = (k: 'added' | 'replayed' | 'mutants' | 'newCoverage'): number => parts.reduce((n, p) => n + p.e.corpus[k], 0);
  return {
    ...base,
    status: status(base.expected, rule, requiredMissing),
    violations: failing?.violations ?? [],
    replay: failing?.replay ?? null,
    failingRun: failing?.failingRun ?? null,
    scenario: failing?.scenario ?? null,
    shrunk: failing?.shrunk ?? null,
    runs,
    // The shards run side by side: the campaign took as long as the slowest.
    elapsedMs: Math.max(...parts.map((p) => p.e.elapsedMs)),
    coverage: {
      cells,
      windows,
      missingCells,
      missingWindows,
      expectedCells: base.coverage.expectedCells,
      reachedCells: reached,
      notes: coverageNotes(base.coverage.expectedCells, reached, { cells, windows }, runs, failing !== undefined),
    },
    flushes,
    corpus: {
      ...base.corpus,
      added: sum('added'),
      replayed: sum('replayed'),
      mutants: sum('mutants'),
      newCoverage: sum('newCoverage'),
      ...(base.corpus.counterexample !== undefined ? { counterexample: failing?.corpus.counterexample ?? null } : {}),
    },
    shard: null,
    merged: { shards: parts.length, complete },
  };
}

/** Merges the shard results; throws a {@link UsageError} when they are not the shards 1..n of one campaign. */
export function mergeResults(files: readonly ShardFile[]): Merged {
  if (files.length === 0) throw new UsageError('merge: no result files; give the --json results of every shard');
  const docs = checkShards(files.map((f) => ({ name: f.name, doc: parse(f) })));
  const first = (docs[0] as { doc: Doc }).doc;
  const warnings: string[] = [];
  const drivers = first.drivers.map((_e, i) =>
    mergeEntry(
      docs.map((x) => ({ name: x.name, e: x.doc.drivers[i] as Entry })),
      warnings,
    ),
  );
  return { schemaVersion: SCHEMA_VERSION, command: 'fuzz', hmmlabVersion: first.hmmlabVersion, drivers, warnings };
}
