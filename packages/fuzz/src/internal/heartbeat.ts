/**
 * The watched side of the watchdog: code running in a watched worker thread tells the watching
 * thread, through shared memory, that it still makes progress (a counter bumped at every run and
 * every scheduler decision), which run it is in, and the scheduler's decisions so far. Shared
 * memory stays readable when the worker spins in driver code and can no longer send a message, so
 * the watchdog can turn a hung or exhausted worker into a replay token.
 *
 * Outside a watched worker every function here is a no-op.
 */
import { setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { type DecisionSource, Kernel, type RunOptions } from '@hmmlab/core';
import { DECISION_CAPACITY, SHORT_CAMPAIGN_RUNS, SLOT } from './beat.js';

const shared: Int32Array | null =
  workerData !== null && typeof workerData === 'object' && (workerData as { beat?: unknown }).beat instanceof SharedArrayBuffer
    ? new Int32Array((workerData as { beat: SharedArrayBuffer }).beat)
    : null;

const tierUpMs: number | null =
  shared !== null && typeof (workerData as { tierUpMs?: unknown }).tierUpMs === 'number'
    ? (workerData as { tierUpMs: number }).tierUpMs
    : null;
/** When the first run started (ms), while TurboFan is still off; -1 before that run; null once it is on. */
let tierStart = tierUpMs === null ? null : -1;

function tierUp(): void {
  setFlagsFromString('--turbofan');
  tierStart = null;
}

/**
 * Turns TurboFan on once runs have gone on for `tierUpMs` (the host started without it: see
 * `TIER_UP_MS` in watchdog.ts). V8 reads the flag whenever a function's budget runs out, so code
 * that is hot by then is optimized from that moment, the code of the first runs included.
 */
function tierCheck(): void {
  if (tierStart === null) return;
  const now = performance.now();
  if (tierStart < 0) tierStart = now;
  else if (now - tierStart >= (tierUpMs as number)) tierUp();
}

/** A campaign of `runs` runs starts in this thread: a long one has TurboFan from its first run. */
export function expectRuns(runs: number): void {
  if (tierStart !== null && runs > SHORT_CAMPAIGN_RUNS) tierUp();
}

/**
 * Says that module loading is over and driver code runs from now on: the watchdog's tight bound
 * applies (loading TypeScript modules on a busy machine can take long).
 */
export function markLoaded(): void {
  if (shared === null) return;
  if (Atomics.load(shared, SLOT.phase) === 0) Atomics.store(shared, SLOT.phase, 1);
  Atomics.add(shared, SLOT.beat, 1);
}

/** Marks the start of campaign run `index` (or -1 outside a campaign's numbered runs). */
export function markRun(index: number): void {
  if (shared === null) return;
  Atomics.store(shared, SLOT.run, index);
  Atomics.store(shared, SLOT.count, 0);
  Atomics.add(shared, SLOT.beat, 1);
}

/**
 * Marks the start of drawing scenarios ahead (hmmlab's work, outside any run); returns what to
 * hand {@link markDrawn} to go back to the run and phase it interrupts.
 */
export function markDrawing(): number {
  if (shared === null) return 0;
  const was = Atomics.load(shared, SLOT.run) * 4 + Atomics.load(shared, SLOT.phase);
  Atomics.store(shared, SLOT.run, -1);
  Atomics.store(shared, SLOT.phase, 3);
  Atomics.add(shared, SLOT.beat, 1);
  return was;
}

/** One scenario drawn: progress, for the watchdog. */
export function beatDraw(): void {
  if (shared !== null) Atomics.add(shared, SLOT.beat, 1);
}

/** Drawing is over: back to the run and phase {@link markDrawing} found. */
export function markDrawn(was: number): void {
  if (shared === null) return;
  const phase = ((was % 4) + 4) % 4;
  Atomics.store(shared, SLOT.run, (was - phase) / 4);
  Atomics.store(shared, SLOT.phase, phase);
  Atomics.add(shared, SLOT.beat, 1);
}

function recording(source: DecisionSource, mem: Int32Array): DecisionSource {
  Atomics.store(mem, SLOT.count, 0);
  Atomics.store(mem, SLOT.step, 0);
  return {
    pick(candidates, step) {
      const choice = source.pick(candidates, step);
      const n = mem[SLOT.count] as number;
      if (n >= 0) {
        if (n < DECISION_CAPACITY) {
          mem[SLOT.decisions + n] = choice;
          Atomics.store(mem, SLOT.count, n + 1);
        } else Atomics.store(mem, SLOT.count, -1);
      }
      Atomics.store(mem, SLOT.step, step);
      Atomics.add(mem, SLOT.beat, 1);
      // A run of many decisions also counts toward turning TurboFan on.
      if ((n & 4095) === 4095) tierCheck();
      return choice;
    },
  };
}

/**
 * Makes every kernel of this watched worker beat once per run and record its scheduler decisions
 * in shared memory. `Kernel.run` is the one place a run's decision source enters (harness
 * `runScenario`), so patching it here watches every run the worker makes, whoever starts it.
 * Outside a watched worker, does nothing.
 */
export function installHeartbeat(): void {
  const mem = shared;
  if (mem === null) return;
  const run = Kernel.prototype.run;
  Kernel.prototype.run = function watchedRun(this: Kernel, decisions: DecisionSource, options?: RunOptions) {
    Atomics.store(mem, SLOT.phase, 2);
    Atomics.add(mem, SLOT.beat, 1);
    tierCheck();
    return run.call(this, recording(decisions, mem), options);
  };
}

const listeners = new Set<(note: unknown) => void>();

/** Sends a note to the watching thread (its `onNote`); a no-op outside a watched worker. */
export function send(note: unknown): void {
  if (shared !== null) parentPort?.postMessage({ type: 'note', note });
}

/** Listens to notes the watching thread posts; returns the function that stops listening. */
export function onParentNote(listener: (note: unknown) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Hands a note from the watching thread to the listeners (the worker's job server calls it). */
export function deliverNote(note: unknown): void {
  for (const l of listeners) l(note);
}
