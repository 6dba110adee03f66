/**
 * `hmmlab replay <driver> <token>`: reruns a counterexample exactly and prints the full report and
 * trace.
 */
import { formatEvent, formatViolation, violationToJson } from '@hmmlab/assertions';
import { decodeToken, HMMLAB_VERSION, replay } from '@hmmlab/fuzz';
import { DriverLoadError, loadDriver } from '@hmmlab/harness';
import { findDrivers } from '../internal/drivers.js';
import { formatScenario } from '../internal/format.js';
import { UsageError } from '../internal/usage.js';

/** Runs the command; returns the exit code. */
export async function replayCommand(driverPath: string, token: string, o: { json?: boolean }): Promise<number> {
  const [target] = findDrivers([driverPath]);
  if (target === undefined) throw new UsageError(`${driverPath}: no driver`);
  let data: ReturnType<typeof decodeToken>;
  try {
    data = decodeToken(token);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  let driver: Awaited<ReturnType<typeof loadDriver>>;
  try {
    driver = await loadDriver(target.file);
  } catch (e) {
    if (e instanceof DriverLoadError) throw new UsageError(e.message);
    throw e;
  }
  const notes: string[] = [];
  if (data.driver !== driver.name) notes.push(`note: the token was recorded with driver "${data.driver}", this is "${driver.name}"`);
  if (data.version !== HMMLAB_VERSION) notes.push(`note: the token was recorded by hmmlab ${data.version}, this is ${HMMLAB_VERSION}`);
  const r = await replay(driver, data.scenario, data.decisions);
  const events = r.result.world.kernel.trace.events();
  if (o.json === true) {
    const body = {
      driver: driver.name,
      verdict: r.verdict,
      violations: r.violations.map(violationToJson),
      run: r.run,
      scenario: data.scenario,
      flushes: r.metrics,
      coverage: r.coverage,
      trace: events.map((e) => ({ step: e.step, seq: e.seq, task: e.task, type: e.type, text: formatEvent(e) })),
      notes,
    };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    for (const n of notes) process.stdout.write(`${n}\n`);
    process.stdout.write(
      `scenario:\n${formatScenario(data.scenario)
        .map((l) => `  ${l}`)
        .join('\n')}\n\n`,
    );
    process.stdout.write(`trace (${events.length} events):\n`);
    for (const e of events) if (e.type !== 'switch') process.stdout.write(`  ${String(e.step).padStart(5)}  ${formatEvent(e)}\n`);
    process.stdout.write(`\n${r.run.message}\n`);
    process.stdout.write(r.violations.length === 0 ? 'no violation\n' : `\n${r.violations.map(formatViolation).join('\n\n')}\n`);
  }
  return r.verdict === 'pass' ? 0 : 1;
}
