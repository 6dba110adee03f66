/**
 * Schedules as data, so they shrink with the scenario: a random walk (one choice per branching
 * point) or PCT (priorities with d change points: Burckhardt et al.'s probabilistic concurrency
 * testing, which finds a depth-d bug with probability at least 1/(n·k^(d−1)) per run).
 */
import type { DecisionSource, TaskInfo } from '@hmmlab/core';
import type fc from 'fast-check';
import * as g from './gen.js';

/** Schedule strategies. */
export type StrategyName = 'random' | 'pct' | 'exhaustive';

/** The strategies a campaign can use, default first. */
export const STRATEGIES: readonly StrategyName[] = ['pct', 'random', 'exhaustive'];

/** A generated schedule. */
export type Schedule =
  /** A random walk: decision `i` runs the runnable task `choices[i]` modulo their number (past the end, the first). */
  | { readonly kind: 'random'; readonly choices: readonly number[] }
  /** PCT: the runnable task of highest priority runs, and at each change point the last one to run drops below every other. */
  | {
      /** The strategy. */
      readonly kind: 'pct';
      /** Initial priorities, drawn for each task by its id. */
      readonly priorities: readonly number[];
      /** The change points: decision numbers. */
      readonly changes: readonly number[];
      /** From this scheduling decision on, run the runnable tasks round robin (a fair tail). */
      readonly fair?: number;
    };

/** Options of the schedule arbitraries. */
export interface ScheduleShape {
  /** Longest random walk (choices beyond it run the lowest-numbered task). @defaultValue 200 */
  readonly maxChoices?: number;
  /** PCT depth d: number of priority change points. @defaultValue 3 */
  readonly depth?: number;
  /**
   * PCT: scheduling decisions (points where two or more tasks could run) over which change points
   * are spread. Generated scenarios make 15 to 40 decisions in a typical run. @defaultValue 32
   */
  readonly horizon?: number;
}

/** A random-walk schedule. */
export function randomScheduleArb(shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return randomScheduleGen(shape).arb;
}

/** The generator of {@link randomScheduleArb}. */
function randomScheduleGen(shape: ScheduleShape): g.Gen<Schedule> {
  return g.array(g.nat(7), { maxLength: shape.maxChoices ?? 200 }).map((choices): Schedule => ({ kind: 'random', choices }));
}

/**
 * A PCT schedule: a priority per task slot, `depth` change points, and on half of the runs a fair
 * tail (round robin from a decision within the horizon on). PCT starves low-priority tasks by
 * design, which breaks the cycles a livelock needs (threads that keep retrying in turn); the fair
 * tail is the fairness a real scheduler gives them (as in CHESS's fair stateless model checking).
 */
export function pctScheduleArb(shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return pctScheduleGen(shape).arb;
}

/** The generator of {@link pctScheduleArb}. */
function pctScheduleGen(shape: ScheduleShape): g.Gen<Schedule> {
  const horizon = shape.horizon ?? 32;
  return g
    .record({
      priorities: g.array(g.nat(1000), { minLength: 8, maxLength: 8 }),
      changes: g.array(g.nat(horizon), { maxLength: shape.depth ?? 3 }),
      fair: g.option(g.nat(horizon), { nil: undefined, freq: 2 }),
    })
    .map(({ priorities, changes, fair }): Schedule => ({ kind: 'pct', priorities, changes, ...(fair !== undefined ? { fair } : {}) }));
}

/** The schedule arbitrary of a strategy (exhaustive search enumerates instead of generating). */
export function scheduleArb(strategy: Exclude<StrategyName, 'exhaustive'>, shape: ScheduleShape = {}): fc.Arbitrary<Schedule> {
  return scheduleGen(strategy, shape).arb;
}

/** The generator of {@link scheduleArb}. */
export function scheduleGen(strategy: Exclude<StrategyName, 'exhaustive'>, shape: ScheduleShape = {}): g.Gen<Schedule> {
  return strategy === 'pct' ? pctScheduleGen(shape) : randomScheduleGen(shape);
}

/** The decision source that plays a schedule. */
export function scheduleDecisions(schedule: Schedule): DecisionSource {
  if (schedule.kind === 'random') {
    let i = 0;
    const choices = schedule.choices;
    return {
      pick(c) {
        return i < choices.length ? (choices[i++] as number) % c.length : 0;
      },
    };
  }
  return pctDecisions(schedule.priorities, schedule.changes, schedule.fair);
}

/**
 * Scheduling decisions in a row that PCT gives one task while another could run, before it drops
 * that task below every other. Runs make tens of decisions, so this never changes a schedule that
 * ends; it ends a starvation no real scheduler allows: a task that polls (sleeps or yields in a
 * loop) for what a lower-priority task must do would otherwise run alone to the step limit, and
 * a wait that ends on any machine would be reported as `livelock`.
 */
export const PCT_STARVATION_BOUND = 1000;

/** The PCT priority of task `t`: its drawn one (distinct, above every change-point priority) until a change point sets it. */
function priorityOf(prio: Map<number, number>, depth: number, priorities: readonly number[], t: TaskInfo): number {
  let p = prio.get(t.id);
  if (p === undefined) {
    p = depth + 1 + (priorities[t.id % priorities.length] ?? 0) * 64 + t.id;
    prio.set(t.id, p);
  }
  return p;
}

/**
 * PCT: run the highest-priority runnable task; at the i-th change point, the task that was
 * running drops to priority i, below every initial priority. From decision `fair` on (if given),
 * run the runnable tasks round robin instead. Change points count scheduling
 * decisions (the calls of `pick`, where at least two tasks can run), not scheduler steps: a step
 * with one runnable task offers no preemption, and counting steps let most change points fall on
 * such steps or after the run had ended. A task picked {@link PCT_STARVATION_BOUND} times in a
 * row while another could run drops below every other, the tasks dropped before it included.
 */
export function pctDecisions(priorities: readonly number[], changes: readonly number[], fair?: number): DecisionSource {
  const prio = new Map<number, number>();
  const depth = changes.length;
  let last = -1;
  let decision = 0;
  let streak = 0;
  let demoted = 0;
  return {
    pick(candidates) {
      const d = decision++;
      if (fair !== undefined && d >= fair) {
        // Round robin: the next task after the one that ran last, by id.
        let next = candidates.findIndex((t) => t.id > last);
        if (next < 0) next = 0;
        last = (candidates[next] as TaskInfo).id;
        return next;
      }
      const ci = changes.indexOf(d);
      if (ci >= 0 && last >= 0) prio.set(last, ci + 1);
      if (streak >= PCT_STARVATION_BOUND) {
        prio.set(last, -++demoted);
        streak = 0;
      }
      let best = 0;
      let bestP = -1;
      for (let i = 0; i < candidates.length; i++) {
        const p = priorityOf(prio, depth, priorities, candidates[i] as TaskInfo);
        if (p > bestP) {
          bestP = p;
          best = i;
        }
      }
      const id = (candidates[best] as TaskInfo).id;
      streak = id === last ? streak + 1 : 1;
      last = id;
      return best;
    },
  };
}
