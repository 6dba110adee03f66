/**
 * The watched thread: driver code runs in a worker thread that can be stopped. The thread beats
 * in shared memory at every run and every scheduler decision (heartbeat.ts); when it stops beating
 * for the hang bound (driver code that spins synchronously: nothing else can notice it), or when
 * it exhausts its heap limit, the watching thread stops it and reports where it was: the run
 * index and the scheduler decisions so far, which make a replay token. Everything the model can
 * bound by counting (steps, a promise nothing settles) is bounded by the scheduler, not here.
 *
 * The watching thread is the main thread of the host process (host.ts); the caller talks to the
 * host (watchdog.ts), so that even a V8 abort of the host ends in a report.
 */
import { Worker } from 'node:worker_threads';
import { DECISION_CAPACITY, SLOT } from './beat.js';
import { type Stall, type WatchOptions, WorkerJobError, WorkerStallError } from './watchdog.js';

/** Loading modules may take this many times the hang bound (at least a minute): it runs no driver callback yet. */
const LOAD_FACTOR = 6;
const LOAD_MIN_MS = 60_000;

// Evaluated as the worker's entry: imports the modules to load before the loader, registers the
// loader, then starts the job server. A string, so that it needs no loader itself.
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  for (const m of workerData.preload) await import(m);
  if (workerData.loader) await (await import(workerData.loader)).register(workerData.loaderData ?? undefined);
  await import(workerData.server);
})().catch((e) => { setImmediate(() => { throw e; }); });
`;

type Reply =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'failed'; id: number; name: string; message: string; stack?: string }
  | { type: 'note'; note: unknown };

/**
 * The thread's young generation, in MB: three times V8's semi-space, 32 MB here against V8's 16 by
 * default (`--max-semi-space-size`). A run of a THP region keeps 1 to 2 MB of the model and the
 * oracle alive while it allocates about 2 MB more, so a small nursery copies that state at every
 * scavenge, and the collector took 27% of such runs: they go 1.39 times faster with this one, a
 * default campaign 1.06 to 1.08 times (docs/performance.md, "A THP run's nursery").
 */
export const YOUNG_GENERATION_MB = 96;

const TICK_MS = 100;
const PHASES = ['loading', 'probing', 'running', 'drawing'] as const;

/** A worker thread that runs jobs (an exported function of a module) under the watchdog. */
export class WatchedThread {
  private readonly worker: Worker;
  private readonly mem: Int32Array;
  private readonly hangTimeoutMs: number;
  private readonly heapMb: number;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private timer: NodeJS.Timeout | null = null;
  private dead: Error | null = null;

  /**
   * `tierUpMs`: the process started without TurboFan, and the thread turns it on after that many
   * milliseconds of runs (heartbeat.ts); null when the process's tiers are as V8 or the user set them.
   */
  constructor(options: WatchOptions = {}, tierUpMs: number | null = null) {
    this.hangTimeoutMs = options.hangTimeoutMs ?? 10_000;
    this.heapMb = options.heapMb ?? 2048;
    const beat = new SharedArrayBuffer((SLOT.decisions + DECISION_CAPACITY) * 4);
    this.mem = new Int32Array(beat);
    this.mem[SLOT.run] = -1;
    const server = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url).href;
    this.worker = new Worker(BOOT, {
      eval: true,
      workerData: {
        beat,
        server,
        loader: options.loader ?? null,
        loaderData: options.loaderData ?? null,
        preload: options.preload ?? [],
        tierUpMs,
      },
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', (m: Reply) => {
      if (m.type === 'note') options.onNote?.(m.note);
      else {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.type === 'result') p?.resolve(m.value);
        else p?.reject(new WorkerJobError(m.name, m.message, m.stack));
        this.idle();
      }
    });
    this.worker.on('error', (e: Error & { code?: string }) => {
      this.fail(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new WorkerStallError(this.stall('out-of-memory', this.heapMb)) : e);
    });
    this.worker.on('exit', (code) => this.fail(new Error(`the worker thread exited (status ${code}) with jobs pending`)));
  }

  /** False once the worker was stopped or died. */
  get alive(): boolean {
    return this.dead === null;
  }

  /** True while a job runs. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** The heartbeat counter: it moves while driver code makes progress. */
  get beat(): number {
    return Atomics.load(this.mem, SLOT.beat);
  }

  /** The run index the thread is in (-1 outside a numbered run). */
  get run(): number {
    return Atomics.load(this.mem, SLOT.run);
  }

  /** Runs `fn(args)` of module `module` in the worker; resolves with what it returns. */
  call<T>(module: string, fn: string, args: unknown): Promise<T> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.watch();
    this.worker.postMessage({ type: 'job', id, module, fn, args });
    return result;
  }

  /** Sends a message to the running job (`onParentMessage` in heartbeat.ts). */
  post(message: unknown): void {
    if (this.dead === null) this.worker.postMessage({ type: 'note', note: message });
  }

  /** Stops the worker; pending jobs reject with `reason`. */
  async stop(reason: Error = new Error('the worker was stopped')): Promise<void> {
    this.fail(reason);
    await this.worker.terminate();
  }

  /** Where the thread is now, as a stall of kind `kind` would report it. */
  stall(kind: Stall['kind'], bound: number): Stall {
    const m = this.mem;
    const count = Atomics.load(m, SLOT.count);
    return {
      kind,
      phase: PHASES[Atomics.load(m, SLOT.phase)] ?? 'running',
      run: Atomics.load(m, SLOT.run),
      decisions: count < 0 ? null : Array.from(m.subarray(SLOT.decisions, SLOT.decisions + count)),
      step: Atomics.load(m, SLOT.step),
      bound,
    };
  }

  private watch(): void {
    if (this.timer !== null) return;
    let last = Atomics.load(this.mem, SLOT.beat);
    let since = performance.now();
    this.timer = setInterval(() => {
      const now = Atomics.load(this.mem, SLOT.beat);
      if (now !== last) {
        last = now;
        since = performance.now();
        return;
      }
      const loaded = Atomics.load(this.mem, SLOT.phase) > 0;
      const bound = loaded ? this.hangTimeoutMs : Math.max(LOAD_MIN_MS, LOAD_FACTOR * this.hangTimeoutMs);
      if (performance.now() - since >= bound) {
        const error = new WorkerStallError(this.stall('hung', bound));
        void this.stop(error);
      }
    }, TICK_MS);
  }

  private idle(): void {
    if (this.pending.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private fail(e: Error): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    this.idle();
  }
}
