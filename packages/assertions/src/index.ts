/**
 * @hmmlab/assertions: the flush-contract oracle. It watches a run online and reports, at the exact
 * step, every needed device flush a driver skipped, with the invalidation, what its callbacks did,
 * the translations still reachable and the trace around it; plus flush metrics and coverage.
 *
 * @module @hmmlab/assertions
 */

export { type CheckedRun, checkScenario } from './internal/check.js';
export { renderTimelineHtml } from './internal/html/render.js';
export type { TimelineInput, TimelineTask } from './internal/html/timeline-model.js';
export type { TimelineDevice } from './internal/html/va-state.js';
export {
  type HasViolations,
  keepsDataIntact,
  keepsFlushContract,
  keepsFlushRules,
  type MatcherResult,
  respectsBlockability,
  runsWithoutDriverFailure,
  staysLive,
  violatesRule,
} from './internal/matchers.js';
export { type Coverage, type FlushMetrics, FlushOracle, type OracleOptions, type OracleReport } from './internal/oracle.js';
export {
  type CallbackSummary,
  formatEvent,
  formatOwner,
  formatViolation,
  type InvalidationInfo,
  type TranslationInfo,
  type Violation,
  violationToJson,
} from './internal/report.js';
export { SHAPE_WINDOWS } from './internal/rules/shape-windows.js';
export { RULE_IDS, RULES, type RuleFamily, type RuleId } from './internal/rules.js';
export type { ElidedEvents, FlushCounts } from './internal/state.js';
