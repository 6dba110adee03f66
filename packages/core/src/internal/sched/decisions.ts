/**
 * Decision sources: where the scheduler's choices come from. A run is a pure function of the
 * scenario and the decisions, so recording the decisions of a run and feeding them back replays it.
 */
import { HmmlabError } from '../errors.js';
import type { TaskKind } from '../trace.js';

/** What a decision source sees of a task. */
export interface TaskInfo {
  /** Unique id, in spawn order. */
  readonly id: number;
  /** Name, for traces and reports. */
  readonly name: string;
  /** What kind of actor the task models. */
  readonly kind: TaskKind;
}

/** Chooses which runnable task runs next. */
export interface DecisionSource {
  /**
   * Picks one of `candidates` (at least two, sorted by task id) and returns its index, or -1 to
   * end the run there (status `stopped`; a strict replay does so when its recorded decisions run
   * out). Any other value is the source's error: the run ends and `Kernel.run` rejects with
   * `ERR_BAD_ARGUMENT`, rather than report it as the failure of the task that was running.
   * @param step - the scheduler step the choice is made at.
   */
  pick(candidates: readonly TaskInfo[], step: number): number;
}

/**
 * Replays a recorded or generated list of choices: choice `i` picks `choices[i] % candidates`.
 * When the list runs out, it keeps running the lowest-numbered runnable task (`fallback: 'first'`)
 * or goes round the runnable tasks (`'round-robin'`).
 */
export function arrayDecisions(choices: readonly number[], fallback: 'first' | 'round-robin' = 'first'): DecisionSource {
  for (let i = 0; i < choices.length; i++) {
    const c = choices[i] as number;
    if (!Number.isInteger(c) || c < 0) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `arrayDecisions: choices[${i}] is ${String(c)}; expected a non-negative integer`);
    }
  }
  let next = 0;
  let rr = 0;
  return {
    pick(candidates) {
      if (next < choices.length) return (choices[next++] as number) % candidates.length;
      return fallback === 'first' ? 0 : rr++ % candidates.length;
    },
  };
}

/** Always runs the lowest-numbered runnable task: the most sequential schedule. */
export const firstRunnable: DecisionSource = { pick: () => 0 };

/**
 * A seeded pseudo-random source (xorshift32), for tests and demos that want varied but
 * reproducible schedules without fast-check. `seed` is any 32-bit integer.
 */
export function seededDecisions(seed: number): DecisionSource {
  if (!Number.isInteger(seed)) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `seededDecisions: seed ${String(seed)} is not an integer`);
  }
  let x = seed | 0 || 0x9e3779b9;
  return {
    pick(candidates) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % candidates.length;
    },
  };
}
