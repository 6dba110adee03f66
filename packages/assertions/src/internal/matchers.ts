/**
 * Matchers as plain functions returning `{ pass, message }`, usable from any test runner; the
 * `@hmmlab/assertions/vitest` entry registers them with `expect.extend`.
 */
import { formatViolation, type Violation } from './report.js';
import { RULES, type RuleFamily, type RuleId } from './rules.js';

/** What a matcher returns. */
export interface MatcherResult {
  /** Whether the expectation holds. */
  pass: boolean;
  /** The failure message (or, negated, the message of the unexpected pass). */
  message: () => string;
}

/** Anything carrying an oracle verdict (an {@link OracleReport} or a checked run). */
export interface HasViolations {
  /** The rules the run broke; empty if none. */
  readonly violations: readonly Violation[];
}

function describe(vs: readonly Violation[]): string {
  return vs.map((v) => formatViolation(v)).join('\n\n');
}

function family(report: HasViolations, fam: RuleFamily | null, what: string): MatcherResult {
  const vs = report.violations.filter((v) => fam === null || RULES[v.rule].family === fam);
  return {
    pass: vs.length === 0,
    message: () =>
      vs.length === 0
        ? `expected a violation of ${what}, but the run kept it`
        : `expected the run to keep ${what}, but:\n\n${describe(vs)}`,
  };
}

/** Passes when no rule is broken. */
export function keepsFlushContract(report: HasViolations): MatcherResult {
  return family(report, null, 'the flush contract');
}

/** Passes when no flush rule (`missed-flush`, `own-migration-unrevoked`, `stale-install`, `freed-page-mapped`) is broken. */
export function keepsFlushRules(report: HasViolations): MatcherResult {
  return family(report, 'flush', 'the flush rules');
}

/** Passes when no write is lost and no read is stale. */
export function keepsDataIntact(report: HasViolations): MatcherResult {
  return family(report, 'data', 'data integrity (lost-write, stale-read)');
}

/** Passes when callbacks respect blockability. */
export function respectsBlockability(report: HasViolations): MatcherResult {
  return family(report, 'blocking', 'the blockability rules');
}

/** Passes when the run stays live (no deadlock, livelock, stuck fault path, lock leak or leak at exit). */
export function staysLive(report: HasViolations): MatcherResult {
  return family(report, 'liveness', 'liveness');
}

/** Passes when driver code neither throws, hangs nor makes the kernel WARN. */
export function runsWithoutDriverFailure(report: HasViolations): MatcherResult {
  return family(report, 'failure', 'driver code that neither throws, hangs nor makes the kernel WARN');
}

/** Passes when the run broke `rule` (for tests that a bug is caught). */
export function violatesRule(report: HasViolations, rule: RuleId): MatcherResult {
  const hit = report.violations.some((v) => v.rule === rule);
  return {
    pass: hit,
    message: () =>
      hit
        ? `expected no ${rule} violation, but:\n\n${describe(report.violations.filter((v) => v.rule === rule))}`
        : `expected a ${rule} violation, but ${report.violations.length === 0 ? 'the run had none' : `the run had only ${[...new Set(report.violations.map((v) => v.rule))].join(', ')}`}`,
  };
}
