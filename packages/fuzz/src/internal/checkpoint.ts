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
  return { campaign, next: body.next, total: body.total, pool: body.pool, known: body.known ?? [] };
}
