/**
 * Several drivers' campaigns at once (`hmmlab fuzz --jobs`), their output in the drivers' order:
 * what a driver's campaign writes goes out at once while every driver before it is done, and is
 * held until then otherwise. The output is the same, line for line, whatever finishes first.
 */

/** Where held text goes. */
export type Stream = 'stdout' | 'stderr';

/** Output of items 0 … n-1, written in their order. */
export class InOrder {
  private head = 0;
  private readonly held: { stream: Stream; text: string }[][];
  private readonly finished: boolean[];
  private readonly out: (stream: Stream, text: string) => void;

  constructor(n: number, out: (stream: Stream, text: string) => void) {
    this.held = Array.from({ length: n }, () => []);
    this.finished = Array.from({ length: n }, () => false);
    this.out = out;
  }

  /** Writes `text` of item `i` now if every item before it is done, else once they are. */
  write(i: number, stream: Stream, text: string): void {
    if (i === this.head) this.out(stream, text);
    else this.held[i]?.push({ stream, text });
  }

  /** Item `i` has written all it will: the items after it that were held go out, up to the first unfinished one. */
  finish(i: number): void {
    this.finished[i] = true;
    while (this.head < this.finished.length && this.finished[this.head] === true) {
      this.head++;
      const next = this.held[this.head];
      if (next === undefined) break;
      for (const h of next.splice(0)) this.out(h.stream, h.text);
    }
  }
}

/**
 * Runs `run(0)` … `run(n - 1)`, at most `jobs` at a time, each started in index order; stops
 * starting new ones once `stopped()` says so. `run(0)` starts before this returns its promise (its
 * synchronous part runs first), and every rejection is awaited before the first one is thrown.
 */
export async function inSlots(n: number, jobs: number, run: (i: number) => Promise<void>, stopped: () => boolean): Promise<void> {
  let next = 0;
  const slot = async (): Promise<void> => {
    while (next < n && !stopped()) await run(next++);
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(jobs, n) }, () => slot()));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/**
 * How many campaigns to run at once when the user did not say (`hmmlab fuzz --jobs` of several
 * drivers, `hmmlab mutate --workers` of mutants): as many as the cores hold with `workers` workers
 * each, at most 8 (each campaign is a process of its own, with its own heap) and at most `campaigns`.
 */
export function defaultJobs(campaigns: number, workers: number, cores: number): number {
  return Math.max(1, Math.min(campaigns, 8, Math.floor(cores / workers)));
}
