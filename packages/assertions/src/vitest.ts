/**
 * Vitest matchers: `import '@hmmlab/assertions/vitest'` in a test file (or a setup file) and write
 * `expect(report).toKeepFlushContract()`.
 *
 * @module @hmmlab/assertions/vitest
 */
import { expect } from 'vitest';
import {
  type HasViolations,
  keepsDataIntact,
  keepsFlushContract,
  keepsFlushRules,
  respectsBlockability,
  runsWithoutDriverFailure,
  staysLive,
  violatesRule,
} from './internal/matchers.js';
import type { RuleId } from './internal/rules.js';

/** The matchers this entry registers. */
export const flushContractMatchers = {
  /** Passes when no rule of the oracle is broken. */
  toKeepFlushContract: (r: HasViolations) => keepsFlushContract(r),
  /** Passes when no flush rule is broken. */
  toKeepFlushRules: (r: HasViolations) => keepsFlushRules(r),
  /** Passes when no write was lost and no read was stale. */
  toKeepDataIntact: (r: HasViolations) => keepsDataIntact(r),
  /** Passes when blockability was respected. */
  toRespectBlockability: (r: HasViolations) => respectsBlockability(r),
  /** Passes when there was no deadlock, livelock, stuck fault path, lock leak or leak at exit. */
  toStayLive: (r: HasViolations) => staysLive(r),
  /** Passes when driver code neither threw nor hung. */
  toRunWithoutDriverFailure: (r: HasViolations) => runsWithoutDriverFailure(r),
  /** Passes when the run broke `rule`. */
  toViolate: (r: HasViolations, rule: RuleId) => violatesRule(r, rule),
};

expect.extend(flushContractMatchers);

interface FlushContractMatchers<R = unknown> {
  /** No rule of the oracle is broken. */
  toKeepFlushContract(): R;
  /** No flush rule is broken. */
  toKeepFlushRules(): R;
  /** No write lost, no stale read. */
  toKeepDataIntact(): R;
  /** Blockability respected. */
  toRespectBlockability(): R;
  /** No deadlock, livelock, stuck fault path, lock leak or leak at exit. */
  toStayLive(): R;
  /** Driver code neither threw nor hung. */
  toRunWithoutDriverFailure(): R;
  /** The run broke `rule`. */
  toViolate(rule: RuleId): R;
}

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: the augmented interface must repeat vitest's own declaration, `Matchers<T = any>`.
  interface Matchers<T = any> extends FlushContractMatchers<T> {}
}
