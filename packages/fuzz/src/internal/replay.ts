/**
 * Exact replay of a token's run. The run is fed the recorded decisions strictly: a decision out of
 * range of the runnable tasks, or a run that needs more decisions than were recorded, stops the
 * replay as a divergence instead of being taken modulo or filled in. A replay that ends otherwise
 * than the recorded run (another rule or step, decisions left over, another trace) diverges too.
 */
import { type CheckedRun, checkScenario, type RuleId, type Violation } from '@hmmlab/assertions';
import type { DecisionSource, TraceEvent } from '@hmmlab/core';
import type { DriverDefinition, Scenario } from '@hmmlab/harness';
import { decodeToken, encodeToken, type ReplayData, type TokenOracle } from './token.js';

/** A decision source that plays `choices` exactly and records where it could not. */
export interface StrictDecisions extends DecisionSource {
  /** Decisions consumed so far. */
  readonly used: () => number;
  /** What diverged, or null. */
  readonly divergence: () => string | null;
}

/**
 * Plays `choices` one by one. A choice out of range, or a pick after the last choice, records a
 * divergence and returns -1, which ends the run (status `stopped`) without a verdict of its own.
 */
export function strictDecisions(choices: readonly number[]): StrictDecisions {
  let next = 0;
  let diverged: string | null = null;
  return {
    pick(candidates, step) {
      if (next >= choices.length) {
        diverged = `the run needs a scheduling decision at step ${step}, after all ${choices.length} recorded ones`;
        return -1;
      }
      const c = choices[next] as number;
      if (c >= candidates.length) {
        diverged = `recorded decision ${next} picks task ${c} of ${candidates.length} runnable at step ${step}`;
        return -1;
      }
      next++;
      return c;
    },
    used: () => next,
    divergence: () => diverged,
  };
}

/** FNV-1a over every event's type, step and task: equal for equal runs, 8 hex digits. */
export function traceFingerprint(events: readonly TraceEvent[]): string {
  let h = 0x811c9dc5;
  const mix = (n: number): void => {
    h = Math.imul(h ^ (n & 0xffff), 0x01000193);
    h = Math.imul(h ^ (n >>> 16), 0x01000193);
  };
  for (const e of events) {
    for (let i = 0; i < e.type.length; i++) mix(e.type.charCodeAt(i));
    mix(e.step);
    mix(e.task + 1);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** The trace fingerprint of a token whose run the watchdog stopped: it has no whole trace. */
export const UNFINISHED_FINGERPRINT = 'unfinished';

/** The inputs of a run that a token records, beside its scenario and decisions. */
export interface RunInputs {
  /** The step limit of the run. */
  readonly maxSteps: number;
  /** The oracle options of the run. */
  readonly oracle: TokenOracle;
}

/**
 * Replays `decisions` strictly with the whole trace kept and encodes the token of the run. The
 * run must fail (a token records a violation); `rule` picks which of its violations the token
 * expects (default: the first).
 * @returns the checked `run`, the `violation` the token expects, and the `token`
 */
export async function recordToken(
  driver: DriverDefinition,
  scenario: Scenario,
  decisions: readonly number[],
  inputs: RunInputs,
  rule?: RuleId,
): Promise<{ run: CheckedRun; violation: Violation; token: string }> {
  const run = await checkScenario(driver, scenario, {
    decisions: strictDecisions(decisions),
    trace: 'all',
    maxSteps: inputs.maxSteps,
    stopOnFirst: inputs.oracle.stopOnFirst,
    ...(inputs.oracle.rules !== undefined ? { rules: inputs.oracle.rules } : {}),
  });
  const v = run.violations.find((x) => x.rule === rule) ?? run.violations[0];
  if (v === undefined) throw new Error(`recordToken: the run of ${driver.name} has no violation to record`);
  const token = encodeToken({
    driver: driver.name,
    scenario,
    decisions: run.run.decisions,
    maxSteps: inputs.maxSteps,
    oracle: inputs.oracle,
    expected: { rule: v.rule, step: v.step, steps: run.run.steps, fingerprint: traceFingerprint(run.result.world.kernel.trace.events()) },
  });
  return { run, violation: v, token };
}

/** The outcome of {@link replayToken}. */
export interface TokenReplay {
  /** What the token held. */
  readonly data: ReplayData;
  /** The replayed run, with the whole trace. */
  readonly run: CheckedRun;
  /**
   * Null when the replay ended as recorded: the same rule at the same step, every decision used,
   * the same trace. Otherwise one line saying what diverged.
   */
  readonly divergence: string | null;
}

function describe(rule: RuleId | undefined, step: number | undefined): string {
  return rule === undefined ? 'no violation' : `${rule} at step ${step}`;
}

/**
 * Replays a token's run with exactly the inputs it records and says whether it ended as
 * recorded. A replay against a driver that changed since (for instance one whose bug was fixed)
 * diverges: the run no longer reaches the violation.
 */
export async function replayToken(driver: DriverDefinition, token: string | ReplayData): Promise<TokenReplay> {
  const data = typeof token === 'string' ? decodeToken(token) : token;
  const source = strictDecisions(data.decisions);
  const run = await checkScenario(driver, data.scenario, {
    decisions: source,
    trace: 'all',
    maxSteps: data.maxSteps,
    stopOnFirst: data.oracle.stopOnFirst,
    ...(data.oracle.rules !== undefined ? { rules: data.oracle.rules } : {}),
  });
  const want = data.expected;
  const got = run.violations.find((v) => v.rule === want.rule) ?? run.violations[0];
  let what: string | null = source.divergence();
  if (what === null && (got?.rule !== want.rule || got.step !== want.step)) what = `it ends in ${describe(got?.rule, got?.step)}`;
  if (what === null && source.used() < data.decisions.length) {
    what = `the run ended at step ${run.run.steps} with ${data.decisions.length - source.used()} of ${data.decisions.length} recorded decisions unused`;
  }
  if (what === null && run.run.steps !== want.steps)
    what = `the run ended at step ${run.run.steps}, the recorded one at step ${want.steps}`;
  if (what === null && traceFingerprint(run.result.world.kernel.trace.events()) !== want.fingerprint) {
    what = 'its trace differs from the recorded run';
  }
  const divergence =
    what === null
      ? null
      : `the run no longer reaches the recorded ${describe(want.rule, want.step)}: ${what}${
          data.driver !== driver.name ? ` (the token was recorded with driver "${data.driver}", this is "${driver.name}")` : ''
        }; a changed driver (one whose bug was fixed, say) diverges like this`;
  return { data, run, divergence };
}
