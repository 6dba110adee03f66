/**
 * `hmmlab report <driver> <token> --html <file>`: replays a counterexample and writes its timeline
 * as one self-contained HTML page. Exit 0: the run has no violation; 1: it has; 2: bad usage.
 */
import { DriverLoadError, loadDriver } from '@hmmlab/harness';
import { findDrivers } from '../internal/drivers.js';
import { prepareOutput } from '../internal/output.js';
import { tokenData, writeTimeline } from '../internal/timeline.js';
import { UsageError } from '../internal/usage.js';

/** Options of `hmmlab report`. */
export interface ReportCommandOptions {
  /** Where to write the HTML timeline. */
  html?: string;
}

/** Runs the command; returns the exit code. */
export async function reportCommand(driverPath: string, token: string, o: ReportCommandOptions): Promise<number> {
  if (o.html === undefined || o.html === '') throw new UsageError('report: say where to write the timeline with --html <file>');
  prepareOutput('--html', o.html);
  const [target] = findDrivers([driverPath]);
  if (target === undefined) throw new UsageError(`${driverPath}: no driver`);
  tokenData(token);
  let driver: Awaited<ReturnType<typeof loadDriver>>;
  try {
    driver = await loadDriver(target.file);
  } catch (e) {
    if (e instanceof DriverLoadError) throw new UsageError(e.message);
    throw e;
  }
  const r = await writeTimeline(driver, token, o.html);
  const first = r.violations[0];
  process.stdout.write(
    `${first === undefined ? 'no violation' : `${first.rule} at step ${first.step}${r.violations.length > 1 ? ` (and ${r.violations.length - 1} more)` : ''}`}; timeline written to ${o.html}\n`,
  );
  return r.verdict === 'pass' ? 0 : 1;
}
