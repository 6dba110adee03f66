/**
 * Campaigns in watched worker threads (watchdog.ts): driver code never runs in the calling
 * thread, so a callback that spins or allocates without bound is stopped and reported, with a
 * replay token, instead of hanging or crashing the caller. Run indices are split round-robin over
 * workers; each scans its share in index order and stops at its first failure; the campaign's
 * failure is the lowest failing (or stopped) index, so the result does not depend on the number
 * of workers. Several workers get a job per epoch, as each epoch's corpus needs every worker's
 * runs of the one before; a single worker runs every epoch in one job and notes each epoch's scan,
 * which is merged here in the same way, so that no epoch waits for a round trip between threads
 * and processes. A campaign may be one shard of a larger one (shard.ts), and may write a
 * checkpoint after each epoch and resume from it (checkpoint.ts).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { HmmlabError } from '@hmmlab/core';
import {
  addScan,
  CAMPAIGN_FIELDS,
  type CampaignOptions,
  type CampaignResult,
  checkCampaignOptions,
  emptyScan,
  replaysOf,
  type Scan,
} from './campaign.js';
import { campaignDigest, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import {
  absorb,
  type Candidate,
  type CorpusEntry,
  corpusDigest,
  corpusDir,
  epochs,
  poolWeights,
  readCorpus,
  writeCorpus,
} from './corpus.js';
import type { HostPool } from './host-pool.js';
import type { CampaignJob, FinishJob, ScanJob } from './jobs.js';
import { checkShard, inShard, shardPosition, shardRuns } from './shard.js';
import { hostsFromBuild, ownModule, type Stall, WatchedWorker, type WatchOptions, WorkerStallError } from './watchdog.js';

/** Options of a parallel campaign (functions cannot cross into workers, so only data). */
export type ParallelOptions = Omit<CampaignOptions, 'onProgress' | 'runFilter'> &
  Omit<WatchOptions, 'onNote' | 'build' | 'preload'> & {
    /** Worker threads. @defaultValue the machine's available parallelism */
    readonly workers?: number;
    /** Called as runs complete: runs done, runs asked for, cells reached and runs that broke a rule, over all workers. */
    readonly onProgress?: (done: number, total: number, reached: { readonly cells: number; readonly violations: number }) => void;
    /** Called once the driver has loaded and probed, with its name. */
    readonly onReady?: (name: string) => void;
    /** Aborting stops the workers; the campaign rejects with the signal's reason. */
    readonly signal?: AbortSignal;
    /**
     * Keep the corpus in `<corpusDir>/<driver name>/`: replay its entries first, then write the
     * entries this campaign kept. Unset: no corpus is read or written.
     */
    readonly corpusDir?: string;
    /** Called with one line for each corpus file that cannot be read as an entry (it is skipped). */
    readonly onWarning?: (line: string) => void;
    /**
     * Write a checkpoint to this file after each epoch, and resume from it when it holds one of
     * this campaign (same driver module, options and corpus): the result is the uninterrupted
     * campaign's. A file of another campaign is a `CheckpointError`.
     */
    readonly checkpoint?: string;
    /**
     * Hosts to take the workers from and give back when the campaign has ended: the campaigns of a
     * command share them one after another, and only a host's first campaign waits while V8
     * compiles hmmlab's code. Unset: the campaign starts its hosts and stops them at its end.
     */
    readonly hosts?: HostPool;
  };

/** Every field of {@link ParallelOptions} (the compiler checks it), for the check of option names. */
const PARALLEL_FIELDS = {
  ...CAMPAIGN_FIELDS,
  hangTimeoutMs: true,
  heapMb: true,
  loader: true,
  loaderData: true,
  workers: true,
  onReady: true,
  signal: true,
  corpusDir: true,
  onWarning: true,
  checkpoint: true,
  hosts: true,
} as const satisfies Record<keyof ParallelOptions, true>;

/** What a worker running `campaignJob` (jobs.ts) notes after each epoch. */
interface EpochNote {
  readonly type: 'epoch';
  readonly from: number;
  readonly to: number;
  readonly scan: Scan;
}

/**
 * The epochs' scans a `campaignJob` notes, in order, as they come; then the end of the job: `null`
 * when it returned, `{ error }` when it failed (a stall among them).
 */
class EpochStream {
  private readonly notes: EpochNote[] = [];
  private ended: { readonly error: unknown } | null | undefined = undefined;
  private wake: (() => void) | null = null;
  /** Settles when the job has, never rejecting. */
  readonly settled: Promise<void>;

  constructor(job: Promise<void>) {
    this.settled = job.then(
      () => this.end(null),
      (error: unknown) => this.end({ error }),
    );
  }

  private end(how: { readonly error: unknown } | null): void {
    this.ended = how;
    this.wake?.();
  }

  push(note: EpochNote): void {
    this.notes.push(note);
    this.wake?.();
  }

  /** The next epoch's note; once every note is taken, how the job ended. */
  async next(): Promise<EpochNote | { readonly error: unknown } | null> {
    while (this.notes.length === 0 && this.ended === undefined) await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    return this.notes.shift() ?? this.ended ?? null;
  }
}

/**
 * The module of a campaign's jobs, and the options of its hosts (but for where their notes go):
 * the jobs are hmmlab's own, from the build when the caller says it is current.
 */
export function campaignHosts(o: Pick<ParallelOptions, 'hangTimeoutMs' | 'heapMb' | 'loader' | 'loaderData' | 'runs'>): {
  jobs: string;
  watch: WatchOptions;
} {
  const build = hostsFromBuild();
  const jobs = ownModule('jobs', build);
  const watch: WatchOptions = {
    build,
    ...(o.hangTimeoutMs !== undefined ? { hangTimeoutMs: o.hangTimeoutMs } : {}),
    ...(o.heapMb !== undefined ? { heapMb: o.heapMb } : {}),
    ...(o.loader !== undefined ? { loader: o.loader } : {}),
    ...(o.loaderData !== undefined ? { loaderData: o.loaderData } : {}),
    // hmmlab's modules load before the driver's loader, when they are JavaScript (WatchOptions.preload).
    ...(o.loader !== undefined && jobs.endsWith('.js') ? { preload: [jobs] } : {}),
    // A short campaign's hosts start without TurboFan (WatchOptions.runs).
    runs: o.runs ?? 1000,
  };
  return { jobs, watch };
}

/** Campaigns started in this process, to name each one to its workers. */
let campaigns = 0;

/**
 * Runs a campaign of the driver module `file` in watched worker threads. Rejects with a
 * `WorkerJobError` whose `errorName` is `DriverLoadError` when the module or its probe fails.
 */
export async function runParallelCampaign(file: string, options: ParallelOptions = {}): Promise<CampaignResult> {
  checkCampaignOptions(options, PARALLEL_FIELDS);
  if (options.shard !== undefined) checkShard(options.shard);
  const t0 = performance.now();
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), 64));
  const {
    onProgress,
    onReady,
    signal,
    workers: _w,
    hangTimeoutMs: _h,
    heapMb: _m,
    loader: _l,
    loaderData: _d,
    corpusDir: base,
    onWarning,
    checkpoint,
    hosts,
    ...given
  } = options;
  const { jobs, watch } = campaignHosts(options);
  const progress = new Array<number>(count).fill(0);
  // Runs done before a resumed campaign's checkpoint.
  let restored = 0;
  const cells = new Set<string>();
  let violations = 0;
  let ready = false;
  const live: WatchedWorker[] = [];
  let stream: EpochStream | null = null;
  const spawn = (i: number): WatchedWorker => {
    const host: WatchOptions = {
      ...watch,
      onNote: (n) => {
        const note = n as {
          type: string;
          done?: number;
          name?: string;
          cells?: string[];
          failed?: number;
          profiles?: readonly string[] | null;
        };
        if (note.type === 'progress' && typeof note.done === 'number') {
          progress[i] = note.done;
          for (const c of note.cells ?? []) cells.add(c);
          violations += note.failed ?? 0;
          onProgress?.(restored + progress.reduce((a, b) => a + b, 0), shardRuns(given.runs ?? 1000, given.shard), {
            cells: cells.size,
            violations,
          });
        } else if (note.type === 'epoch') {
          stream?.push(n as EpochNote);
        } else if (note.type === 'ready' && !ready && typeof note.name === 'string') {
          ready = true;
          const declared = note.profiles ?? null;
          const other = declared === null ? [] : (given.profiles ?? []).filter((p) => !declared.includes(p));
          if (other.length > 0)
            onWarning?.(
              `${note.name} declares profiles ${declared?.join(', ')}; this campaign runs it on ${other.join(', ')}, a kernel it is not written for: a call of an API that profile lacks stops the campaign`,
            );
          onReady?.(note.name);
        }
      },
    };
    const w = hosts?.take(host) ?? new WatchedWorker(host);
    live.push(w);
    return w;
  };
  // Set once the campaign has its result: only then are its workers given back to `hosts`.
  let ended = false;
  const abort = (): void => {
    for (const w of live) void w.stop(signal?.reason instanceof Error ? signal.reason : new Error('the campaign was interrupted'));
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    signal?.throwIfAborted();
    let lowest = Number.POSITIVE_INFINITY;
    const stalls: Stall[] = [];
    const workers = Array.from({ length: count }, (_x, i) => spawn(i));
    let data: typeof given = given;
    let store: { dir: string; loaded: number; skipped: number; digest: string } | null = null;
    if (base !== undefined) {
      const name = await (workers[0] as WatchedWorker).call<string>(jobs, 'nameJob', { file });
      const dir = corpusDir(base, name);
      const found = readCorpus(dir);
      for (const b of found.skipped) onWarning?.(`corpus file ${b.file} skipped: ${b.reason}`);
      store = { dir, loaded: found.entries.length, skipped: found.skipped.length, digest: corpusDigest(found.entries) };
      data = { ...given, corpus: [...(given.corpus ?? []), ...found.entries] };
    }
    // Epoch by epoch: every worker scans its share of the epoch's runs against the same corpus;
    // the runs that reached new coverage join the corpus in run order, so the campaign does not
    // depend on the number of workers.
    const runs = data.runs ?? 1000;
    const seeds = replaysOf(data);
    const replays = seeds.length;
    let total = emptyScan();
    const pool: CorpusEntry[] = [...seeds];
    const known = new Set<string>();
    const doneBefore = new Array<number>(count).fill(0);
    // What each worker has of the corpus: the epochs send it what was kept since (FeedDelta).
    const campaignId = `${process.pid}:${++campaigns}`;
    const poolSent = new Array<number>(count).fill(0);
    const knownSent = new Array<number>(count).fill(0);
    let failingPool: CorpusEntry[] = [];
    // The worker whose run failed: it made no runs ahead after it.
    let failingWorker = -1;
    let failingWeights: number[] = [];
    const { timeMs: _t, ...identity } = data;
    const digest = campaignDigest(resolve(file), identity);
    const resumed = checkpoint === undefined ? null : readCheckpoint(checkpoint, digest);
    if (resumed !== null) {
      total = { ...resumed.total, kept: [...resumed.total.kept] };
      pool.splice(0, pool.length, ...resumed.pool);
      for (const k of resumed.known) known.add(k);
      restored = total.done;
    }
    // Worker `index`'s share of runs [from, to), in a scan job: the corpus as it stands (what the
    // worker does not have of it yet), the epoch's pool weights.
    const scanShare = async (index: number, from: number, to: number, weights: readonly number[], options: CampaignOptions) => {
      const knownList = [...known];
      const s = await (workers[index] as WatchedWorker).call<Scan>(jobs, 'scanJob', {
        file,
        options,
        index,
        count,
        feed: {
          campaign: campaignId,
          from,
          to,
          poolFrom: poolSent[index] ?? 0,
          pool: pool.slice(poolSent[index] ?? 0),
          knownFrom: knownSent[index] ?? 0,
          known: knownList.slice(knownSent[index] ?? 0),
          weights,
        },
        doneBefore: doneBefore[index] ?? 0,
      } satisfies ScanJob);
      poolSent[index] = pool.length;
      knownSent[index] = knownList.length;
      return s;
    };
    // A new worker in place of worker `index`: it has nothing of the corpus yet.
    const renew = (index: number): void => {
      workers[index] = spawn(index);
      poolSent[index] = 0;
      knownSent[index] = 0;
    };
    // A stalled worker's share of epoch [from, to). It made its share in index order up to the
    // stalled run, which counts as made (as a failing run does); what the runs before it found
    // died with the worker, so a new worker makes them again (the same runs) for the report. When
    // that fails too, or the run is not of this epoch, the scan holds only the runs' count (from
    // the last progress note, up to 100 ms old, for a run outside the epoch).
    const stalled = async (e: unknown, index: number, from: number, to: number, weights: readonly number[]): Promise<Scan> => {
      if (!(e instanceof WorkerStallError) || e.stall.run < 0) throw e;
      const run = e.stall.run;
      stalls.push(e.stall);
      if (run < lowest) {
        lowest = run;
        for (const other of workers) other.post({ stopAt: lowest });
      }
      if (run < from || run >= to) return { ...emptyScan(), done: (progress[index] ?? 0) - (doneBefore[index] ?? 0) };
      let made = 0;
      for (let i = from; i <= run; i++) if (inShard(i, data.shard) && shardPosition(i, data.shard) % count === index) made++;
      if (made === 1 || signal?.aborted === true) return { ...emptyScan(), done: made };
      renew(index);
      const { timeMs: _t, ...untimed } = data;
      try {
        const s = await scanShare(index, from, run, weights, untimed);
        if (s.failing >= 0 || s.done !== made - 1) return { ...emptyScan(), done: made };
        return { ...s, done: made };
      } catch {
        return { ...emptyScan(), done: made };
      }
    };
    // The epoch's scans as one worker would have made them: it stops at the campaign's failure, the
    // lowest failing or stalled run of the epoch. Another worker may have scanned past it before
    // the stop reached it (runs, coverage and flushes one worker never makes): its share before
    // that run is scanned again, the same runs, and replaces its scan. If that fails, the scan stays.
    const trimToFailure = async (scans: Scan[], from: number, weights: readonly number[], options: CampaignOptions): Promise<Scan[]> => {
      let failing = -1;
      for (const s of scans) if (s.failing >= 0 && (failing < 0 || s.failing < failing)) failing = s.failing;
      for (const st of stalls) if (st.run >= from && (failing < 0 || st.run < failing)) failing = st.run;
      if (failing < 0) return scans;
      const owner = shardPosition(failing, data.shard) % count;
      return Promise.all(
        scans.map(async (s, index) => {
          if (index === owner) return s;
          let before = 0;
          for (let i = from; i < failing; i++) if (inShard(i, data.shard) && shardPosition(i, data.shard) % count === index) before++;
          if (s.done <= before && s.failing < 0) return s;
          try {
            const again = await scanShare(index, from, failing, weights, options).catch((e: unknown) => {
              // The worker stopped responding in a run it made ahead of the next epoch (jobs.ts,
              // `makeAhead`), one the campaign never makes: a new worker scans the share again.
              if (!(e instanceof WorkerStallError) || e.stall.run < failing) throw e;
              renew(index);
              return scanShare(index, from, failing, weights, options);
            });
            return again.failing < 0 && again.done === before ? again : s;
          } catch {
            return s;
          }
        }),
      );
    };
    // One worker: it runs every epoch in one job and notes each epoch's scan (campaignJob), merged
    // below as the scans of per-epoch jobs are; no epoch waits for a round trip to this thread.
    if (count === 1) {
      const left = data.timeMs === undefined ? null : data.timeMs - (performance.now() - t0);
      stream = new EpochStream(
        (workers[0] as WatchedWorker).call<void>(jobs, 'campaignJob', {
          file,
          options: data,
          start: { next: resumed?.next ?? 0, pool, known: [...known], coverage: total.coverage },
          timeLeft: left,
        } satisfies CampaignJob),
      );
    }
    for (const [from, to] of epochs(runs, replays)) {
      if (resumed !== null && from < resumed.next) continue;
      if (from >= lowest) break;
      const left = data.timeMs === undefined ? undefined : data.timeMs - (performance.now() - t0);
      // The streaming worker keeps to the time limit itself.
      if (stream === null && left !== undefined && left <= 0) break;
      const weights = poolWeights(pool, total.coverage);
      let scans: Scan[];
      if (stream !== null) {
        const next = await stream.next();
        // The worker ended the campaign before this epoch: its time was up.
        if (next === null) break;
        if ('error' in next) scans = [await stalled(next.error, 0, from, to, weights)];
        else if (next.from !== from || next.to !== to) {
          throw new HmmlabError(
            'ERR_STATE',
            `runParallelCampaign: the worker scanned runs ${next.from}–${next.to} where runs ${from}–${to} were due`,
          );
        } else scans = [next.scan];
      } else {
        const options = { ...data, ...(left !== undefined ? { timeMs: left } : {}) };
        scans = await Promise.all(
          workers.map(async (_w, index) => {
            try {
              const s = await scanShare(index, from, to, weights, options);
              if (s.failing >= 0 && s.failing < lowest) {
                lowest = s.failing;
                for (const other of workers) other.post({ stopAt: lowest });
              }
              return s;
            } catch (e) {
              return stalled(e, index, from, to, weights);
            }
          }),
        );
        scans = await trimToFailure(scans, from, weights, options);
      }
      signal?.throwIfAborted();
      const candidates: Candidate[] = [];
      for (const [i, s] of scans.entries()) {
        addScan(total, s);
        doneBefore[i] = (doneBefore[i] ?? 0) + s.done;
        if (s.failing >= 0 && (total.failing < 0 || s.failing < total.failing)) {
          total.failing = s.failing;
          failingWorker = i;
          failingPool = [...pool];
          failingWeights = [...weights];
        }
        candidates.push(...s.candidates);
      }
      if (stalls.length > 0 && failingPool.length === 0) {
        failingPool = [...pool];
        failingWeights = [...weights];
      }
      if (total.failing >= 0 || stalls.length > 0) break;
      const kept = absorb(candidates, known);
      if (from >= replays) {
        total.kept.push(...kept);
        pool.push(...kept);
      }
      if (checkpoint !== undefined) writeCheckpoint(checkpoint, { campaign: digest, next: to, total, pool, known: [...known] });
    }
    // The finishing job may reuse the streaming worker: its campaign job must have ended.
    await stream?.settled;
    total.failingPool = failingPool;
    total.failingWeights = failingWeights;
    const stall = stalls.filter((s) => total.failing < 0 || s.run < total.failing).sort((a, b) => a.run - b.run)[0] ?? null;
    if (stall !== null) total.failing = stall.run;
    // The finishing job reuses a worker that is still alive (its modules are loaded already),
    // preferably the one whose run failed. Another may be making runs of an epoch that will not
    // come (jobs.ts, `makeAhead`); when one of them stops responding (the finishing job makes no
    // numbered run), the job is done again by a new worker.
    const job = (on: WatchedWorker, opts: CampaignOptions): Promise<CampaignResult> =>
      on.call<CampaignResult>(jobs, 'finishJob', { file, options: opts, scan: total, stall } satisfies FinishJob);
    const finish = async (opts: CampaignOptions): Promise<CampaignResult> => {
      const owner = workers[failingWorker];
      try {
        return await job((owner?.alive === true ? owner : workers.find((w) => w.alive)) ?? spawn(count), opts);
      } catch (e) {
        if (!(e instanceof WorkerStallError) || e.stall.run < 0) throw e;
        return job(spawn(count), opts);
      }
    };
    let result: CampaignResult;
    try {
      result = await finish(data);
    } catch (e) {
      // A shrinking attempt can hang where the failing run did not: report the run unshrunk.
      if (!(e instanceof WorkerStallError) || stall !== null || data.shrink === false) throw e;
      result = await finish({ ...data, shrink: false });
    }
    const added = store === null ? 0 : writeCorpus(store.dir, result.corpus.kept, result.driver);
    ended = true;
    return {
      ...result,
      elapsedMs: Math.round(performance.now() - t0),
      ...(store !== null ? { store: { ...store, added } } : {}),
      ...(resumed !== null ? { resumed: { runs: restored, from: checkpoint as string } } : {}),
    };
  } finally {
    signal?.removeEventListener('abort', abort);
    // A campaign that did not end (it threw, or was interrupted) may have a job still running in
    // a worker: its hosts are stopped, never given back.
    await Promise.all(live.map((w) => (hosts !== undefined && ended ? hosts.give(w, watch) : w.stop())));
  }
}
