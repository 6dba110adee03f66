/**
 * The one JSON document `fuzz --json`, `replay --json` and `report --json` print, described by
 * `schema/hmmlab-result.schema.json`: `schemaVersion`, the command, the hmmlab version, and one
 * entry per driver, each with a `status` and a `violations` array.
 */
import { formatEvent, type Violation, violationToJson } from '@hmmlab/assertions';
import { type CampaignResult, HMMLAB_VERSION, type ReplayData, type Shard, type TokenReplay } from '@hmmlab/fuzz';
import type { DriverTarget } from './drivers.js';

/** The version of the JSON document's layout (`schemaVersion`). */
const SCHEMA_VERSION = 1;

/**
 * What makes a campaign the one it is: the options its runs depend on. Shards of one campaign
 * have the same; `hmmlab merge` refuses results whose campaigns differ.
 */
export interface CampaignIdentity {
  /** Runs of the whole campaign (`--runs`), not of one shard. */
  readonly runs: number;
  readonly seed: number;
  readonly strategy: string;
  /** `--profile`, or null for the profiles the driver declares. */
  readonly profiles: readonly string[] | null;
  /** Coverage feedback (off with --no-feedback and for a shard). */
  readonly feedback: boolean;
  /** The campaign's scenario shape (the driver's expected.json shape with --shape's fields over it), or null. */
  readonly shape: unknown;
  readonly requireWindows: readonly string[] | null;
  /** Digest of the corpus entries replayed first, or null when none were. */
  readonly corpus: string | null;
}

/** A driver as `hmmlab fuzz` judged it. */
export interface FuzzOutcome {
  readonly target: DriverTarget;
  readonly result: CampaignResult;
  /** pass / fail for drivers without expectations; caught / missed / wrong-rule for drivers with. */
  readonly status: 'pass' | 'fail' | 'caught' | 'missed' | 'wrong-rule';
  readonly campaign: CampaignIdentity;
  /** The shard the campaign ran (0-based inside; the document numbers shards from 1), or null. */
  readonly shard: Shard | null;
  /** Where the counterexample was saved for `hmmlab test --corpus`, or null. */
  readonly saved: string | null;
}

function document(
  command: 'fuzz' | 'replay' | 'report',
  drivers: readonly Record<string, unknown>[],
  interrupted = false,
  notLoaded: readonly NotLoaded[] = [],
): string {
  const head = { schemaVersion: SCHEMA_VERSION, command, hmmlabVersion: HMMLAB_VERSION };
  const rest = notLoaded.length > 0 ? { notLoaded } : {};
  return `${JSON.stringify({ ...head, ...(interrupted ? { interrupted: true } : {}), drivers, ...rest }, null, 2)}\n`;
}

/** A driver of a `hmmlab fuzz` of several that did not load or probe: its file and the one-line error. */
export interface NotLoaded {
  readonly file: string;
  readonly error: string;
}

function fuzzEntry(o: FuzzOutcome): Record<string, unknown> {
  const r = o.result;
  const f = r.failure;
  return {
    driver: r.driver,
    file: o.target.label,
    status: o.status,
    expected: o.target.expected?.rules ?? null,
    violations: f === null ? [] : [violationToJson(f.violation)],
    replay: f?.token ?? null,
    failingRun: f?.runIndex ?? null,
    scenario: f?.scenario ?? null,
    shrunk: f?.shrunk ?? null,
    runs: r.runs,
    elapsedMs: r.elapsedMs,
    seed: r.seed,
    strategy: r.strategy,
    coverage: {
      ...r.coverage,
      missingCells: r.missingCells,
      missingWindows: r.missingWindows,
      expectedCells: r.coverageSummary.expected,
      reachedCells: r.coverageSummary.reached,
      notes: r.coverageSummary.notes,
    },
    flushes: r.flushes,
    corpus: {
      dir: r.store?.dir ?? null,
      loaded: r.store?.loaded ?? 0,
      skipped: r.store?.skipped ?? 0,
      added: r.store?.added ?? 0,
      replayed: r.corpus.replayed,
      mutants: r.corpus.mutants,
      newCoverage: r.corpus.kept.length,
      counterexample: o.saved,
    },
    campaign: o.campaign,
    shard: o.shard === null ? null : { index: o.shard.index + 1, count: o.shard.count },
  };
}

/**
 * `hmmlab fuzz --json`. `interrupted`: a signal stopped the campaign (the entries are the drivers
 * that finished) or `--time` stopped one before its runs (its entry says how many it did); the
 * document says `interrupted: true`.
 */
export function fuzzJson(outcomes: readonly FuzzOutcome[], interrupted = false, notLoaded: readonly NotLoaded[] = []): string {
  return document('fuzz', outcomes.map(fuzzEntry), interrupted, notLoaded);
}

/** What `replay` and `report` replayed. */
export interface ReplayOutcome {
  readonly target: DriverTarget;
  readonly driver: string;
  readonly token: string;
  readonly replayed: TokenReplay;
  readonly notes: readonly string[];
}

function replayEntry(o: ReplayOutcome): Record<string, unknown> {
  const { data, run, divergence } = o.replayed;
  return {
    driver: o.driver,
    file: o.target.label,
    status: divergence === null ? 'reproduced' : 'diverged',
    divergence,
    recorded: { driver: data.driver, rule: data.expected.rule, step: data.expected.step, maxSteps: data.maxSteps },
    violations: run.violations.map(violationToJson),
    replay: o.token,
    scenario: data.scenario,
    run: { status: run.run.status, steps: run.run.steps, message: run.run.message },
    coverage: run.coverage,
    flushes: run.metrics,
    notes: o.notes,
  };
}

/** `hmmlab replay --json`: the replayed run, with its whole trace. */
export function replayJson(o: ReplayOutcome): string {
  const events = o.replayed.run.result.world.kernel.trace.events();
  const trace = events.map((e) => ({ step: e.step, seq: e.seq, task: e.task, type: e.type, text: formatEvent(e) }));
  return document('replay', [{ ...replayEntry(o), trace }]);
}

/** `hmmlab report --json`: the replayed run and where its timeline went (null when none was written). */
export function reportJson(o: ReplayOutcome, html: string | null): string {
  return document('report', [{ ...replayEntry(o), html }]);
}

/** A replay (of `replay` or `report`) that the watchdog stopped: how far its run went. */
export interface StalledReplay {
  readonly file: string;
  readonly token: string;
  readonly data: ReplayData;
  /** The stall, as a violation (`callback-hung`, or `callback-threw` out of heap). */
  readonly violation: Violation;
  readonly divergence: string | null;
}

/** `hmmlab replay --json` / `report --json` of a stopped replay: no trace, no timeline. */
export function stalledReplayJson(command: 'replay' | 'report', o: StalledReplay): string {
  const { data, violation: v } = o;
  const zero = { needed: 0, performed: 0, missed: 0, unnecessary: 0, legalSkips: 0 };
  const entry: Record<string, unknown> = {
    driver: data.driver,
    file: o.file,
    status: o.divergence === null ? 'reproduced' : 'diverged',
    divergence: o.divergence,
    recorded: { driver: data.driver, rule: data.expected.rule, step: data.expected.step, maxSteps: data.maxSteps },
    violations: [violationToJson(v)],
    replay: o.token,
    scenario: data.scenario,
    run: { status: v.rule === 'callback-hung' ? 'hung' : 'error', steps: v.step, message: v.explanation },
    coverage: { cells: {}, windows: {} },
    flushes: { total: zero, byEvent: {} },
    notes: [],
    ...(command === 'report' ? { html: null } : { trace: [] }),
  };
  return document(command, [entry]);
}
