/**
 * Schedules as data, so they shrink with the scenario: a random walk (one choice per branching
 * point) or PCT (priorities with d change points: Burckhardt et al.'s probabilistic concurrency
 * testing, which finds a depth-d bug with probability at least 1/(n·k^(d−1)) per run).
 */
import type { DecisionSource, TaskInfo } from '@hmmlab/core';
import fc from 'fast-check';

/** Schedule strategies. */
export type StrategyName = 'random' | 'pct' | 'exhaustive';

/** The strategies a campaign can use, default first. */
export const STRATEGIES: readonly StrategyName[] = ['pct', 'random', 'exhaustive'];

/** A generated schedule. */
export type Schedule =
  | { readonly kind: 'random'; readonly choices: readonly number[] }
  | { readonly kind: 'pct'; readonly priorities: readonly number[]; readonly changes: readonly number[] };

/** Options of the schedule arbitraries. */
export interface ScheduleShape {
  /** Longest random walk (choices beyond it run the lowest-numbered task). @defaultValue 200 */
  readonly maxChoices?: number;
  /** PCT depth d: number of priority change points. @defaultValue 3 */
  readonly depth?: number;
  /** PCT: steps over which change points are spread. @defaultValue 300 */
  readonly horizon?: number;
}

/** A random-walk schedule. */
export function randomScheduleArb(shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return fc.array(fc.nat(7), { maxLength: shape.maxChoices ?? 200 }).map((choices) => ({ kind: 'random', choices }));
}

/** A PCT schedule: a priority per task slot and `depth` change points. */
export function pctScheduleArb(shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return fc
    .record({
      priorities: fc.array(fc.nat(1000), { minLength: 8, maxLength: 8 }),
      changes: fc.array(fc.nat(shape.horizon ?? 300), { maxLength: shape.depth ?? 3 }),
    })
    .map(({ priorities, changes }) => ({ kind: 'pct', priorities, changes }));
}

/** The schedule arbitrary of a strategy (exhaustive search enumerates instead of generating). */
export function scheduleArb(strategy: Exclude<StrategyName, 'exhaustive'>, shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return strategy === 'pct' ? pctScheduleArb(shape) : randomScheduleArb(shape);
}

/** The decision source that plays a schedule. */
export function scheduleDecisions(schedule: Schedule): DecisionSource {
  if (schedule.kind === 'random') {
    let i = 0;
    const choices = schedule.choices;
    return { pick: (c) => (i < choices.length ? (choices[i++] as number) % c.length : 0) };
  }
  return pctDecisions(schedule.priorities, schedule.changes);
}

/**
 * PCT: run the highest-priority runnable task; at the i-th change point, the task that was
 * running drops to priority i, below every initial priority.
 */
export function pctDecisions(priorities: readonly number[], changes: readonly number[]): DecisionSource {
  const prio = new Map<number, number>();
  const depth = changes.length;
  let last = -1;
  const priorityOf = (t: TaskInfo): number => {
    let p = prio.get(t.id);
    if (p === undefined) {
      // Distinct initial priorities above every change-point priority.
      p = depth + 1 + (priorities[t.id % priorities.length] ?? 0) * 64 + t.id;
      prio.set(t.id, p);
    }
    return p;
  };
  return {
    pick(candidates, step) {
      const ci = changes.indexOf(step);
      if (ci >= 0 && last >= 0) prio.set(last, ci + 1);
      let best = 0;
      let bestP = -1;
      for (let i = 0; i < candidates.length; i++) {
        const p = priorityOf(candidates[i] as TaskInfo);
        if (p > bestP) {
          bestP = p;
          best = i;
        }
      }
      last = (candidates[best] as TaskInfo).id;
      return best;
    },
  };
}
