/**
 * Hosts kept from one campaign to the next. A host process starts cold: for its first 2,000 runs
 * V8 compiles hmmlab's model, oracle and campaign code, and that compilation takes as much CPU as
 * the runs themselves (docs/performance.md, "Hosts kept from one campaign to the next"). A command
 * that fuzzes a folder of drivers gives its campaigns a pool: each campaign takes its workers
 * from it and gives them back alive, so that only the first campaign of each host pays for it.
 *
 * What a host keeps from a campaign is what a campaign's own epochs keep from one to the next in
 * it: the modules it imported (hmmlab's, and each driver's module, loaded and probed once). Every
 * run makes its own kernel and binds the driver anew, so no run depends on the runs before it, in
 * this campaign or another. A host whose worker was stopped (hung, out of memory, aborted) or
 * stopped answering is never given out again.
 */
import { ownModule, WatchedWorker, type WatchOptions } from './watchdog.js';

/**
 * The options that make two hosts interchangeable: all but where the notes go, and the runs the
 * first campaign makes. A host started without TurboFan for a short campaign turns it on when a
 * campaign of more runs comes (`expectRuns`, heartbeat.ts).
 * @internal
 */
export function hostKey(options: WatchOptions): string {
  const { onNote: _n, runs: _r, build = false, ...rest } = options;
  const key: Record<string, unknown> = { ...rest, build };
  // The options in one order, each whole (a list of keys given to JSON.stringify would also drop
  // the fields of a nested value, such as the loader's data).
  return JSON.stringify(
    Object.keys(key)
      .sort()
      .map((k) => [k, key[k]]),
  );
}

/**
 * Watched hosts (`WatchedWorker`s) that the campaigns of one command share, one after another:
 * `runParallelCampaign(file, { hosts })` takes its workers from the pool and gives them back when
 * it ends. {@link HostPool.close} stops them.
 */
export class HostPool {
  private readonly idle = new Map<string, WatchedWorker[]>();
  private readonly all = new Set<WatchedWorker>();
  private closed = false;
  private startedCount = 0;

  /** Host processes the pool started, the ones it stopped since included. */
  get started(): number {
    return this.startedCount;
  }

  /**
   * An idle host started with the same options as `options` (but for `onNote`), which from now on
   * hands its notes to `options.onNote`; a new host if there is none.
   */
  take(options: WatchOptions): WatchedWorker {
    if (this.closed) throw new Error('HostPool: the pool is closed');
    const idle = this.idle.get(hostKey(options)) ?? [];
    for (let w = idle.pop(); w !== undefined; w = idle.pop()) {
      if (!w.alive) continue;
      w.listen(options.onNote);
      return w;
    }
    const w = new WatchedWorker(options);
    this.all.add(w);
    this.startedCount++;
    return w;
  }

  /**
   * Gives back `worker`, taken with `options`, once its campaign is done with it. It is kept for
   * the next campaign when it is alive and has made its last run (the job that waits for it
   * returned); else it is stopped.
   */
  async give(worker: WatchedWorker, options: WatchOptions): Promise<void> {
    if (!this.all.has(worker)) throw new Error('HostPool: a worker the pool did not start');
    worker.listen(undefined);
    let quiet = false;
    if (!this.closed && worker.alive) {
      try {
        await worker.call<void>(ownModule('jobs', options.build === true), 'quiesceJob', null);
        quiet = true;
      } catch {
        // Stopped (it hung in a run made ahead), or its host died: not given out again.
      }
    }
    if (!quiet || this.closed || !worker.alive) {
      this.all.delete(worker);
      await worker.stop();
      return;
    }
    const key = hostKey(options);
    const idle = this.idle.get(key) ?? [];
    idle.push(worker);
    this.idle.set(key, idle);
  }

  /** Stops every host of the pool; it gives out none after. */
  async close(): Promise<void> {
    this.closed = true;
    this.idle.clear();
    const all = [...this.all];
    this.all.clear();
    await Promise.all(all.map((w) => w.stop()));
  }
}
