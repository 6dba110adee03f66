/**
 * The watchdog: driver code runs in a worker thread that can be stopped (watched-thread.ts), in a
 * host process of its own (host.ts). The thread beats in shared memory at every run and every
 * scheduler decision (heartbeat.ts); when it stops beating for `hangTimeoutMs` (driver code that
 * spins synchronously: nothing else can notice it), or when it exhausts its heap limit, the host
 * stops it and reports where it was: the run index and the scheduler decisions so far, which make
 * a replay token. When V8 aborts the host instead (an array grown past its length limit, an
 * allocation past the heap limit in one step: V8 ends the process, not the thread), the caller
 * reports the run and decisions the host last sent. Everything the model can bound by counting
 * (steps, a promise nothing settles) is bounded by the scheduler, not here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { SHORT_CAMPAIGN_RUNS } from './beat.js';

/** Options of a watched worker. */
export interface WatchOptions {
  /** Milliseconds without a heartbeat after which driver code counts as hung. @defaultValue 10000 */
  readonly hangTimeoutMs?: number;
  /** Heap limit of the worker, in MB. @defaultValue 2048 */
  readonly heapMb?: number;
  /**
   * A module whose `register()` the worker calls (and awaits) before it imports a job's module:
   * the TypeScript loader that lets it import `.ts` driver modules (`tsx/esm/api`, or the CLI's
   * own, which registers tsx or a loader of modules it compiled ahead).
   */
  readonly loader?: string;
  /**
   * What the worker passes to the loader's `register()` (plain data, sent to the host process):
   * the CLI's TypeScript modules compiled ahead. None: `register()` gets no argument.
   */
  readonly loaderData?: unknown;
  /**
   * JavaScript modules the worker imports before it registers {@link WatchOptions.loader}: the
   * modules of its jobs. What they import (hmmlab's packages) then loads without passing through
   * the loader's hooks, which run in a thread of their own, and a driver's imports of it find it
   * loaded. The test files whose campaigns give tsx as their loader took 28% less CPU with it
   * (docs/performance.md, "Hosts that load hmmlab before the loader").
   */
  readonly preload?: readonly string[];
  /** Messages the job sends with `send()` (progress, readiness). */
  readonly onNote?: (note: unknown) => void;
  /**
   * The runs the worker's jobs make in all, when the caller knows them (a campaign's `runs`, 1 for
   * a replay). A host for at most 500 starts without V8's optimizing compiler, TurboFan, and turns
   * it on if its runs go on for 2 s: a short campaign in a fresh process ends before what TurboFan
   * compiles pays back. Unknown, or more: TurboFan from the start.
   */
  readonly runs?: number;
  /**
   * @internal The host runs hmmlab's build (the bundles in the packages' `lib`) even though this
   * process runs hmmlab's TypeScript sources: for callers whose jobs are hmmlab's own
   * ({@link hostsFromBuild}). The host then takes neither the source export condition nor the
   * caller's `--import tsx`; its thread registers {@link WatchOptions.loader} for the driver.
   */
  readonly build?: boolean;
}

/** Whether this module is hmmlab's TypeScript source (run through tsx), not its build. */
const SOURCE = import.meta.url.endsWith('.ts');

/**
 * Whether the hosts of hmmlab's own jobs (a campaign's) are to run hmmlab's build although this
 * process runs the TypeScript sources: when `HMMLAB_HOSTS_FROM_BUILD` is `1`, which the test
 * suite's setup sets once it has built the workspace (test/setup/build.js). Such a host loads
 * hmmlab's modules without tsx: the test files that start those campaigns took 13 to 25%
 * less CPU (docs/performance.md, "Campaign hosts of the tests from the build").
 */
export function hostsFromBuild(): boolean {
  return SOURCE && process.env.HMMLAB_HOSTS_FROM_BUILD === '1';
}

/**
 * The URL of hmmlab's module `name` of this folder (`host`, `jobs`, `heartbeat`) for a host to
 * load: the source beside this one, its build beside this one, or (`build`, this module being the
 * source) the package's bundle of it. A job module of a caller's own imports `heartbeat` from
 * where the host's thread has it, so that both share its state.
 */
export function ownModule(name: 'host' | 'jobs' | 'heartbeat', build = false): string {
  const file = !SOURCE ? `./${name}.js` : build ? `../../lib/internal/${name}.js` : `./${name}.ts`;
  return new URL(file, import.meta.url).href;
}

/** Where a worker was when it was stopped. */
export interface Stall {
  /** Hung (no progress for the time bound), out of memory (the heap limit), or V8 aborted the host process. */
  readonly kind: 'hung' | 'out-of-memory' | 'aborted';
  /**
   * Loading modules (the driver's, or hmmlab's), probing the driver, running the model, or drawing
   * the campaign's scenarios (hmmlab's own work: no driver code runs then).
   */
  readonly phase: 'loading' | 'probing' | 'running' | 'drawing';
  /** Campaign run index, or -1 outside a numbered run (loading, shrinking, a replay). */
  readonly run: number;
  /** The scheduler's decisions in that run so far; null if they overflowed the record. */
  readonly decisions: readonly number[] | null;
  /** Scheduler step of the last decision. */
  readonly step: number;
  /** The bound that was hit: milliseconds without progress, or the heap limit in MB (0 when V8 aborted). */
  readonly bound: number;
  /** When V8 aborted: what it printed (e.g. `Fatal JavaScript invalid size error 169220804`). */
  readonly message?: string;
}

/** A watched job was stopped by the watchdog. */
export class WorkerStallError extends Error {
  /** Where the worker was when it was stopped. */
  readonly stall: Stall;
  constructor(stall: Stall) {
    const who = stall.phase === 'drawing' ? "drawing the campaign's scenarios" : 'driver code';
    super(
      stall.kind === 'hung'
        ? `${who} did not return control for ${stall.bound} ms`
        : stall.kind === 'out-of-memory'
          ? `${who} exhausted the heap limit of ${stall.bound} MB`
          : `${who} made V8 abort the process it ran in: ${stall.message ?? 'no message'}`,
    );
    this.name = 'WorkerStallError';
    this.stall = stall;
  }
}

/** A watched job threw: `errorName` is the class name of what it threw (e.g. DriverLoadError). */
export class WorkerJobError extends Error {
  /** The class name of what the job threw. */
  readonly errorName: string;
  constructor(errorName: string, message: string, stack: string | undefined) {
    super(message);
    this.name = 'WorkerJobError';
    this.errorName = errorName;
    if (stack !== undefined) this.stack = stack;
  }
}

// Evaluated as the host process's entry (`node -e`): registers the loader, then starts the host.
// A string, so that it needs no loader itself.
const HOST_BOOT = `
(async () => {
  const [loader, host] = JSON.parse(process.argv[1]);
  if (loader) (await import(loader)).register();
  await import(host);
})().catch((e) => { console.error(e); process.exit(70); });
`;

type HostReply =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'failed'; id: number; name: string; message: string; stack?: string }
  | { type: 'stalled'; id: number; stall: Stall }
  | { type: 'note'; note: unknown }
  | { type: 'run'; run: number }
  | { type: 'stuck'; stall: Stall }
  | { type: 'moving' };

/** The first line of what V8 prints when it aborts the process. */
const FATAL_START = /^(# Fatal error|<--- Last few GCs --->|FATAL ERROR:)/;

/** How long a stopped host may take to exit before it is killed. */
const STOP_GRACE_MS = 5_000;

/** What V8's abort says, from the lines it printed: `Fatal JavaScript invalid size error 169220804`, `Reached heap limit …`. */
export function fatalMessage(lines: readonly string[]): string {
  for (const l of lines) {
    const m = /^# (Fatal (?!error in).*)$/.exec(l) ?? /^FATAL ERROR: (.*)$/.exec(l);
    if (m !== null) return (m[1] as string).trim();
  }
  return lines.find((l) => l.trim() !== '' && l.trim() !== '#')?.trim() ?? 'V8 aborted the process';
}

/**
 * V8 flags that choose the optimizing tiers. A caller that sets one of them keeps its choice in
 * the host; otherwise a host for a short campaign starts without TurboFan, and its thread turns
 * it on when a campaign of more runs comes, or after {@link TIER_UP_MS} of runs (heartbeat.ts).
 */
const TIER_FLAG = /^--(no-)?(opt|turbofan|maglev)$|^--(max-opt|jitless)\b/;

/**
 * Milliseconds of runs after which a host's thread turns TurboFan on in any case. Until then its
 * code runs in the interpreter and the baseline compiler: a replay, or a campaign of a few hundred
 * runs in a fresh process, ends before what TurboFan compiles has paid back its compilation
 * (docs/performance.md, "TurboFan in a host").
 */
const TIER_UP_MS = 2_000;

/** Flags of the caller's that would make a second process debug or profile the same way: an inspector on the same port, one waiting for a debugger. */
const NOT_FOR_HOST = /^--(inspect|debug|cpu-prof|heap-prof|prof)/;
/** Those of them whose value may be the next argument. */
const TAKES_VALUE = new Set([
  '--inspect-port',
  '--debug-port',
  '--cpu-prof-dir',
  '--cpu-prof-name',
  '--cpu-prof-interval',
  '--heap-prof-dir',
  '--heap-prof-name',
  '--heap-prof-interval',
]);

/** The caller's Node.js flags (export conditions, loaders, …) that its host process takes too. */
export function hostExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!NOT_FOR_HOST.test(a)) out.push(a);
    else if (TAKES_VALUE.has(a)) i++;
  }
  return out;
}

/**
 * A source caller's flags without what loads hmmlab's sources: the `@hmmlab/source` export
 * condition and tsx's `--import`, for a host that runs the build. With the condition, the
 * driver's `@hmmlab/harness` would be the sources while the host's thread has the build's.
 */
export function withoutSources(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--conditions=@hmmlab/source' || a === '--import=tsx') continue;
    if ((a === '--conditions' || a === '-C') && argv[i + 1] === '@hmmlab/source') i++;
    else if (a === '--import' && argv[i + 1] === 'tsx') i++;
    else out.push(a);
  }
  return out;
}

/**
 * The host's flags for a caller's `argv` and the runs its jobs make (`runs`, when known):
 * {@link hostExecArgv}, and `--no-turbofan` for a short campaign unless the caller chose its
 * optimizing tiers itself; `tierUp` says whether the host's thread is to turn TurboFan on.
 */
export function hostFlags(argv: readonly string[], runs?: number): { execArgv: string[]; tierUp: boolean } {
  const execArgv = hostExecArgv(argv);
  const tierUp = runs !== undefined && runs <= SHORT_CAMPAIGN_RUNS && !execArgv.some((a) => TIER_FLAG.test(a));
  if (tierUp) execArgv.push('--no-turbofan');
  return { execArgv, tierUp };
}

/**
 * A worker that runs jobs (an exported function of a module) under the watchdog, in a host
 * process of its own: a callback that spins, exhausts the heap or makes V8 abort ends the job
 * with a {@link WorkerStallError} that says where it was, and never the caller.
 */
export class WatchedWorker {
  private readonly host: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private onNote: ((note: unknown) => void) | undefined;
  private readonly exited: Promise<void>;
  private nextId = 0;
  private dead: Error | null = null;
  /** The run the host last said the thread is in. */
  private run = -1;
  /** Where the thread was when the host last saw it stop beating, until it beats again. */
  private stuck: Stall | null = null;
  /** What V8 printed when it aborted the host, line by line; null until it does. */
  private fatal: string[] | null = null;
  /** The host's stderr: its unfinished last line, and blank or `#` lines held back until the next line says whether V8 aborts. */
  private partial = '';
  private held: string[] = [];

  constructor(options: WatchOptions = {}) {
    const { onNote, runs, build = false, ...rest } = options;
    this.onNote = onNote;
    const source = SOURCE && !build;
    const host = ownModule('host', build);
    // The host itself needs the loader only when it runs from hmmlab's TypeScript sources; the
    // thread registers it on its own, for the driver.
    const boot = JSON.stringify([source ? (options.loader ?? null) : null, host]);
    const { execArgv, tierUp } = hostFlags(SOURCE && build ? withoutSources(process.execArgv) : process.execArgv, runs);
    this.host = spawn(process.execPath, [...execArgv, '-e', HOST_BOOT, boot], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.host.stderr?.setEncoding('utf8');
    this.host.stderr?.on('data', (chunk: string) => this.stderr(chunk));
    this.host.on('message', (m: HostReply) => this.message(m));
    this.exited = new Promise<void>((resolve) => {
      this.host.on('error', (e) => {
        this.fail(e);
        resolve();
      });
      this.host.on('close', (code, signal) => {
        this.closed(code, signal);
        resolve();
      });
    });
    this.host.send({ type: 'init', options: rest, tierUpMs: tierUp ? TIER_UP_MS : null });
  }

  /** False once the worker was stopped or died. */
  get alive(): boolean {
    return this.dead === null;
  }

  /** Hands the notes of the jobs from now on to `onNote` ({@link WatchOptions.onNote}): the next campaign of a host kept for it (`HostPool`). */
  listen(onNote: ((note: unknown) => void) | undefined): void {
    this.onNote = onNote;
  }

  /** Runs `fn(args)` of module `module` in the worker; resolves with what it returns. */
  call<T>(module: string, fn: string, args: unknown): Promise<T> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.host.send({ type: 'job', id, module, fn, args });
    return result;
  }

  /** Sends a message to the running job (`onParentMessage` in heartbeat.ts). */
  post(message: unknown): void {
    if (this.dead === null && this.host.connected) this.host.send({ type: 'note', note: message });
  }

  /** Stops the worker and its host process; pending jobs reject with `reason`. */
  async stop(reason: Error = new Error('the worker was stopped')): Promise<void> {
    this.fail(reason);
    if (this.host.exitCode !== null || this.host.signalCode !== null) return;
    if (this.host.connected) this.host.send({ type: 'stop' });
    else this.host.kill('SIGKILL');
    // fail() unref'd the host; this timer keeps the caller alive until the host has exited.
    const kill = setTimeout(() => this.host.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(kill);
  }

  private message(m: HostReply): void {
    switch (m.type) {
      case 'note':
        this.onNote?.(m.note);
        return;
      case 'run':
        this.run = m.run;
        return;
      case 'stuck':
        this.stuck = m.stall;
        return;
      case 'moving':
        this.stuck = null;
        return;
      case 'stalled':
        // The thread is gone: so is the host's work.
        void this.stop(new WorkerStallError(m.stall));
        return;
      default: {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.type === 'result') p?.resolve(m.value);
        else p?.reject(new WorkerJobError(m.name, m.message, m.stack));
      }
    }
  }

  /** Passes the host's stderr on, line by line, but for what V8 prints when it aborts. */
  private stderr(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.line(l);
  }

  private line(l: string): void {
    if (this.fatal !== null) {
      this.fatal.push(l);
      return;
    }
    if (FATAL_START.test(l)) {
      this.fatal = [l];
      this.held = [];
      return;
    }
    if (l.trim() === '' || l.trim() === '#') {
      this.held.push(l);
      return;
    }
    process.stderr.write(`${[...this.held, l].join('\n')}\n`);
    this.held = [];
  }

  private closed(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
    if (this.fatal === null && this.held.length > 0) process.stderr.write(`${this.held.join('\n')}\n`);
    this.held = [];
    if (this.dead !== null) return;
    if (this.fatal !== null || signal === 'SIGTRAP' || signal === 'SIGABRT' || signal === 'SIGILL') {
      const where: Stall = this.stuck ?? { kind: 'aborted', phase: 'running', run: this.run, decisions: null, step: 0, bound: 0 };
      const message = this.fatal !== null ? fatalMessage(this.fatal) : `V8 ended the process with ${signal}`;
      this.fail(new WorkerStallError({ ...where, kind: 'aborted', bound: 0, message }));
      return;
    }
    this.fail(new Error(`the watched worker's host process exited (${signal ?? `status ${code}`}) with jobs pending`));
  }

  private fail(e: Error): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    // Nothing waits on a dead worker: its host, until it exits, must not keep the caller alive.
    this.host.unref();
    this.host.channel?.unref();
    (this.host.stderr as Socket | null)?.unref();
  }
}
