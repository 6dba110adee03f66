/**
 * One call that runs a scenario under the oracle.
 */
import { type DriverDefinition, runScenario, type Scenario, type ScenarioResult, type ScenarioRunOptions } from '@hmmlab/harness';
import { FlushOracle, type OracleOptions, type OracleReport } from './oracle.js';

/** The oracle's report together with the run it judged (`result`). */
export type CheckedRun = OracleReport & { readonly result: ScenarioResult };

/** Runs `scenario` with `driver` under a {@link FlushOracle} and returns its verdict. */
export async function checkScenario(
  driver: DriverDefinition,
  scenario: Scenario,
  options: ScenarioRunOptions & OracleOptions,
): Promise<CheckedRun> {
  const oracle = new FlushOracle(options);
  const result = await runScenario(driver, scenario, { ...options, observers: [...(options.observers ?? []), oracle] });
  const r = oracle.finish(result.run);
  // Field by field, not a spread of the report: about 1 µs a run less.
  return { verdict: r.verdict, violations: r.violations, metrics: r.metrics, coverage: r.coverage, run: r.run, result };
}
