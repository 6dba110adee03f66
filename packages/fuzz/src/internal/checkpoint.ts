/**
 * Checkpoints of a long campaign: after each epoch, what the campaign has found so far (the merged
 * scans, the corpus it mutates, the coverage keys it knows) and where the next epoch starts. A
 * campaign started with the same checkpoint file, the same driver module and the same options
 * resumes after the last finished epoch and ends with the result of the uninterrupted campaign:
 * every run depends only on the seed, its index and the corpus at the start of its epoch, which
 * the checkpoint holds.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Scan } from './campaign.js';
import type { CorpusEntry } from './corpus.js';

/** The format tag of checkpoint files. */
const FORMAT = 'hmmlab-checkpoint-1';

/** What a checkpoint holds. */
export interface Checkpoint {
  /** Digest of the campaign (driver module and options): a checkpoint resumes only its own campaign. */
  readonly campaign: string;
  /** The first run of the next epoch. */
  readonly next: number;
  /** What the finished epochs found (no failure: a campaign that found one finishes at once). */
  readonly total: Scan;
  /** The corpus later epochs mutate, and the coverage keys known. */
  readonly pool: readonly CorpusEntry[];
  readonly known: readonly string[];
}

/** A checkpoint file that cannot be resumed: another campaign's, or not a checkpoint. */
export class CheckpointError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_CHECKPOINT';
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** The digest of a campaign: its driver module and every option its runs depend on. */
export function campaignDigest(file: string, options: object): string {
  return createHash('sha256')
    .update(JSON.stringify([file, options]))
    .digest('hex')
    .slice(0, 24);
}

const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const counts = (x: unknown): boolean => isRecord(x) && Object.values(x).every((v) => isCount(v));

/**
 * What is wrong with a checkpoint's body that has its format (null: nothing): the fields a resumed
 * campaign reads, with their types, so a damaged file is refused rather than resumed into nonsense.
 */
function malformed(b: Partial<Checkpoint>): string | null {
  if (!isCount(b.next)) return '"next" is not a run index';
  if (!Array.isArray(b.known) && b.known !== undefined) return '"known" is not a list';
  if ((b.known ?? []).some((k) => typeof k !== 'string')) return '"known" holds a key that is not a string';
  const t = b.total as unknown;
  if (!isRecord(t)) return '"total" is not an object';
  for (const f of ['done', 'steps', 'replayed', 'mutants']) if (!isCount(t[f])) return `"total.${f}" is not a count`;
  if (!Number.isSafeInteger(t.failing) || (t.failing as number) < -1) return '"total.failing" is not a run index or -1';
  const cov = t.coverage;
  if (!isRecord(cov) || !counts(cov.cells) || !counts(cov.windows)) return '"total.coverage" is not cells and windows with counts';
  const fl = t.flushes;
  if (!isRecord(fl) || !counts(fl.total) || !isRecord(fl.byEvent) || !Object.values(fl.byEvent).every(counts)) {
    return '"total.flushes" is not flush counts';
  }
  for (const f of ['candidates', 'kept', 'failingPool', 'failingWeights']) if (!Array.isArray(t[f])) return `"total.${f}" is not a list`;
  for (const [i, e] of (b.pool ?? []).entries()) {
    const x = e as unknown;
    if (!isRecord(x) || !isRecord(x.scenario) || !Array.isArray(x.scenario.regions) || !Array.isArray(x.scenario.tasks)) {
      return `pool entry ${i} has no scenario`;
    }
    if (!isRecord(x.schedule) || !Array.isArray(x.keys) || x.keys.some((k) => typeof k !== 'string')) {
      return `pool entry ${i} has no schedule or coverage keys`;
    }
  }
  return null;
}

/** Writes a checkpoint (to a temporary file first, so a crash never leaves half of one). */
export function writeCheckpoint(path: string, c: Checkpoint): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ format: FORMAT, ...c })}\n`);
  renameSync(tmp, path);
}

/**
 * Reads the checkpoint at `path` for the campaign `campaign`: null when there is no file; a
 * {@link CheckpointError} when it is not a checkpoint or is another campaign's.
 */
export function readCheckpoint(path: string, campaign: string): Checkpoint | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointError(`checkpoint ${path}: cannot read it (${(e as Error).message})`);
  }
  let body: Partial<Checkpoint> & { format?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new CheckpointError(`checkpoint ${path}: not JSON; delete it to start the campaign afresh`);
  }
  if (body.format !== FORMAT || typeof body.next !== 'number' || body.total === undefined || !Array.isArray(body.pool)) {
    throw new CheckpointError(`checkpoint ${path}: not a checkpoint (no "format": "${FORMAT}"); delete it to start the campaign afresh`);
  }
  if (body.campaign !== campaign) {
    throw new CheckpointError(
      `checkpoint ${path} is of another campaign (another driver, seed, runs, option or corpus); delete it, or give another file`,
    );
  }
  const broken = malformed(body);
  if (broken !== null) {
    throw new CheckpointError(`checkpoint ${path}: damaged (${broken}); delete it to start the campaign afresh`);
  }
  return { campaign, next: body.next, total: body.total, pool: body.pool, known: body.known ?? [] };
}
