/**
 * `hmmlab replay <driver> <token>`: reruns a counterexample exactly, with every input its token
 * records, and prints the full report and trace. Exit 1: the run reached the recorded violation;
 * 3: it diverged (one line on stderr says how); 2: bad usage or a bad token.
 */
import { formatEvent, formatViolation } from '@hmmlab/assertions';
import { loadProbedDriver, replayToken } from '@hmmlab/fuzz';
import { DriverLoadError } from '@hmmlab/harness';
import { replayArguments } from '../internal/drivers.js';
import { formatScenario } from '../internal/format.js';
import { type ReplayOutcome, replayJson } from '../internal/result-json.js';
import { UsageError } from '../internal/usage.js';

/** Exit code of a replay that does not end as its token records. */
const EXIT_DIVERGED = 3;

/** Finds and loads the driver, decodes the token and replays its run exactly. */
export async function replayTarget(driverPath: string, token: string): Promise<ReplayOutcome> {
  const { target, data } = replayArguments(driverPath, token);
  let driver: Awaited<ReturnType<typeof loadProbedDriver>>;
  try {
    driver = await loadProbedDriver(target.file);
  } catch (e) {
    if (e instanceof DriverLoadError) throw new UsageError(e.message);
    throw e;
  }
  const notes: string[] = [];
  if (data.driver !== driver.name) notes.push(`note: the token was recorded with driver "${data.driver}", this is "${driver.name}"`);
  return { target, driver: driver.name, token: token.trim(), replayed: await replayToken(driver, data), notes };
}

/** Says on stderr, in one line, how a replay diverged; returns the exit code. */
export function exitOf(o: ReplayOutcome): number {
  const d = o.replayed.divergence;
  if (d === null) return 1;
  process.stderr.write(`hmmlab: replay diverged: ${d}\n`);
  return EXIT_DIVERGED;
}

/** Runs the command; returns the exit code. */
export async function replayCommand(driverPath: string, token: string, o: { json?: boolean }): Promise<number> {
  const x = await replayTarget(driverPath, token);
  const { data, run: r } = x.replayed;
  if (o.json === true) {
    process.stdout.write(replayJson(x));
  } else {
    const events = r.result.world.kernel.trace.events();
    for (const n of x.notes) process.stdout.write(`${n}\n`);
    process.stdout.write(
      `scenario:\n${formatScenario(data.scenario)
        .map((l) => `  ${l}`)
        .join('\n')}\n\n`,
    );
    // Scheduler switches are left out: the step column says where each event ran.
    const shown = events.filter((e) => e.type !== 'switch');
    process.stdout.write(`trace (${events.length} events, ${shown.length} shown):\n`);
    for (const e of shown) process.stdout.write(`  ${String(e.step).padStart(5)}  ${formatEvent(e)}\n`);
    process.stdout.write(`\n${r.run.message}\n`);
    process.stdout.write(r.violations.length === 0 ? 'no violation\n' : `\n${r.violations.map(formatViolation).join('\n\n')}\n`);
    if (x.replayed.divergence === null) {
      process.stdout.write(`\nreplayed as recorded: ${data.expected.rule} at step ${data.expected.step}\n`);
    }
  }
  return exitOf(x);
}
