/**
 * Bounded exhaustive search of schedules for a small scenario: depth-first over the scheduler's
 * choices, replaying a prefix of decisions and branching at the deepest choice with an untried
 * alternative, with at most `maxPreemptions` preemptions per schedule (a running task that could
 * continue is switched away from). Preemption bounding is what keeps the search small: most bugs
 * need few preemptions (Musuvathi and Qadeer, CHESS).
 */
import { checkScenario, type OracleOptions, type OracleReport } from '@hmmlab/assertions';
import { checkOptionNames, type DecisionSource, HmmlabError, type TaskInfo } from '@hmmlab/core';
import type { DriverDefinition, Scenario } from '@hmmlab/harness';

/**
 * The step limit of a run of `scenario` when the campaign or search sets none: 20,000, and 500
 * more for each page of its layout. A run that reaches it is reported as a livelock, and runs over
 * a 512-page THP region make progress for far longer: a device write of 374 pages of it after
 * `fork`, one fault per page by a driver that rechecks its whole range at each, takes 76,000
 * steps (`examples/buggy/controls`, n7).
 */
export function defaultMaxSteps(scenario: Scenario): number {
  let pages = 0;
  for (const r of scenario.regions) pages += r.pages;
  return 20_000 + 500 * pages;
}

/** Options of {@link exploreSchedules}. */
export interface ExploreOptions {
  /** Preemptions allowed per schedule. @defaultValue 2 */
  readonly maxPreemptions?: number;
  /** Stop after this many schedules. @defaultValue 10000 */
  readonly maxSchedules?: number;
  /** Step limit per run. @defaultValue 20,000 and 500 per page of the layout ({@link defaultMaxSteps}) */
  readonly maxSteps?: number;
  /** Oracle rules to check (default: every rule). */
  readonly rules?: OracleOptions['rules'];
}

/** Every field of {@link ExploreOptions} (the compiler checks it). */
const EXPLORE_FIELDS = { maxPreemptions: true, maxSchedules: true, maxSteps: true, rules: true } as const satisfies Record<
  keyof ExploreOptions,
  true
>;

/** The search's outcome. */
export interface ExploreResult {
  /** Schedules run. */
  readonly schedules: number;
  /** True if every schedule within the bound was run. */
  readonly complete: boolean;
  /** The first failing schedule's report, or null. */
  readonly failure: OracleReport | null;
  /** The last schedule's report (the failing one if any). */
  readonly last: OracleReport;
}

interface Point {
  readonly order: readonly number[];
  readonly chosen: number;
  /** Index of the task that ran before, if it can continue; -1 if it cannot. */
  readonly cont: number;
}

/** Plays `prefix`, then keeps the running task running: the least preemptive continuation. */
function dfsSource(prefix: readonly number[], points: Point[]): DecisionSource {
  let last = -1;
  let i = 0;
  return {
    pick(candidates: readonly TaskInfo[]) {
      const cont = candidates.findIndex((c) => c.id === last);
      const def = Math.max(cont, 0);
      const order = [def, ...candidates.map((_c, k) => k).filter((k) => k !== def)];
      const chosen = i < prefix.length ? (prefix[i] as number) : def;
      points.push({ order, chosen, cont });
      i++;
      last = (candidates[chosen] as TaskInfo).id;
      return chosen;
    },
  };
}

/** Runs every schedule of `scenario` within the preemption bound until one fails. */
export async function exploreSchedules(driver: DriverDefinition, scenario: Scenario, options: ExploreOptions = {}): Promise<ExploreResult> {
  checkOptionNames('exploreSchedules', options, EXPLORE_FIELDS);
  const bound = options.maxPreemptions ?? 2;
  const max = options.maxSchedules ?? 10_000;
  // A search of no schedule would have no report to give, and a negative bound would explore
  // one schedule and call the search complete.
  if (!(Number.isSafeInteger(max) && max >= 1))
    throw new HmmlabError('ERR_BAD_ARGUMENT', `exploreSchedules: maxSchedules ${String(max)}: expected an integer ≥ 1`);
  if (!(Number.isSafeInteger(bound) && bound >= 0))
    throw new HmmlabError('ERR_BAD_ARGUMENT', `exploreSchedules: maxPreemptions ${String(bound)}: expected an integer ≥ 0`);
  let prefix: number[] = [];
  let last: OracleReport | null = null;
  for (let n = 1; n <= max; n++) {
    const points: Point[] = [];
    const r = await checkScenario(driver, scenario, {
      decisions: dfsSource(prefix, points),
      stopOnFirst: true,
      maxSteps: options.maxSteps ?? defaultMaxSteps(scenario),
      ...(options.rules ? { rules: options.rules } : {}),
    });
    last = r;
    if (r.verdict === 'fail') return { schedules: n, complete: false, failure: r, last };
    // Backtrack: the deepest point with a next alternative inside the preemption bound.
    let next: number[] | null = null;
    for (let j = points.length - 1; j >= 0 && next === null; j--) {
      const p = points[j] as Point;
      let used = 0;
      for (let q = 0; q < j; q++) {
        const x = points[q] as Point;
        if (x.cont >= 0 && x.chosen !== x.cont) used++;
      }
      const at = p.order.indexOf(p.chosen);
      for (let a = at + 1; a < p.order.length; a++) {
        const preempts = p.cont >= 0 && p.order[a] !== p.cont;
        if (used + (preempts ? 1 : 0) > bound) continue;
        next = [...points.slice(0, j).map((x) => x.chosen), p.order[a] as number];
        break;
      }
    }
    if (next === null) return { schedules: n, complete: true, failure: null, last };
    prefix = next;
  }
  return { schedules: max, complete: false, failure: null, last: last as OracleReport };
}
