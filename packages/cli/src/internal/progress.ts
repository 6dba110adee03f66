/**
 * Progress of a campaign where stderr is not a terminal (CI logs): one line every few seconds
 * with runs done, runs per second, coverage cells reached and violations so far. A line is
 * written when a run completes and the interval has passed since the last line; the clock is
 * passed in, so the lines depend only on the times it returns.
 */
import { UsageError } from './usage.js';

/** Seconds between progress lines unless `HMMLAB_PROGRESS_INTERVAL` says otherwise. */
const DEFAULT_PROGRESS_INTERVAL_S = 5;

/** The interval between progress lines, in ms, from `HMMLAB_PROGRESS_INTERVAL` (seconds; 0: after every run). */
export function progressIntervalMs(env: string | undefined): number {
  if (env === undefined || env === '') return DEFAULT_PROGRESS_INTERVAL_S * 1000;
  const s = Number(env);
  if (!Number.isFinite(s) || s < 0) throw new UsageError(`HMMLAB_PROGRESS_INTERVAL=${env}: expected a number of seconds ≥ 0`);
  return s * 1000;
}

/** What a progress line says. */
export interface ProgressState {
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
  readonly cells: number;
  readonly violations: number;
}

/** `hmmlab fuzz: <label>: 1200/2000 runs, 350 runs/s, 57 cells, 0 violations`. */
export function formatProgress(label: string, p: ProgressState): string {
  const rate = p.elapsedMs > 0 ? Math.round((p.done * 1000) / p.elapsedMs) : 0;
  return `hmmlab fuzz: ${label}: ${p.done}/${p.total} runs, ${rate} runs/s, ${p.cells} cells, ${p.violations} violation${p.violations === 1 ? '' : 's'}`;
}

/** Writes a progress line at most once per interval, as runs complete. */
export class ProgressLines {
  private readonly label: string;
  private readonly options: { readonly intervalMs: number; readonly now: () => number; readonly write: (line: string) => void };
  private readonly start: number;
  private last: number;

  constructor(label: string, options: ProgressLines['options']) {
    this.label = label;
    this.options = options;
    this.start = options.now();
    this.last = this.start;
  }

  /** A run completed: `done` of `total`, `cells` reached, `violations` so far. */
  update(done: number, total: number, cells: number, violations: number): void {
    const t = this.options.now();
    if (t - this.last < this.options.intervalMs) return;
    this.last = t;
    this.options.write(`${formatProgress(this.label, { done, total, elapsedMs: t - this.start, cells, violations })}\n`);
  }
}
