/**
 * Runs in a watched worker (runtime.ts): calls one command function with its output captured, and
 * returns the output with the exit status, for the main thread to print.
 */
import { relative } from 'node:path';
import { loadProbedDriver, replay, replayToken } from '@hmmlab/fuzz';
import { DriverLoadError, loadDriver } from '@hmmlab/harness';
import { readCounterexample } from './counterexamples.js';
import type { WatchedCommand } from './runtime.js';
import { tokenData, writeTimeline } from './timeline.js';
import { UsageError } from './usage.js';

/** The job: `fn(...args)` of `module`, with what it writes to stdout. */
export async function commandJob(c: WatchedCommand): Promise<{ exitCode: number; stdout: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string | Uint8Array) => {
    chunks.push(typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  try {
    const mod = (await import(c.module)) as Record<string, (...a: unknown[]) => Promise<number>>;
    const fn = mod[c.fn];
    if (fn === undefined) throw new Error(`command job: ${c.module} has no function ${c.fn}`);
    const exitCode = await fn(...c.args);
    return { exitCode, stdout: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}

/** Loads the driver `file` and writes the timeline of `token` to `out` (`hmmlab fuzz --html`). */
export async function timelineJob(file: string, token: string, out: string): Promise<number> {
  const driver = await loadDriver(file);
  const replayed = await replayToken(driver, token);
  // The token was made from this very run a moment ago: a divergence here is a bug of hmmlab.
  if (replayed.divergence !== null) throw new Error(`the counterexample's token does not replay: ${replayed.divergence}`);
  writeTimeline(replayed, driver.name, token, out);
  return replayed.run.verdict === 'pass' ? 0 : 1;
}

/**
 * Replays the counterexample file `path` (`hmmlab test --corpus`) and prints one line: exit 1
 * when its token's run, replayed exactly, breaks a rule, or when the driver changed so that the
 * exact replay diverges and its scenario, run leniently with the recorded choices, still breaks
 * one; 0 otherwise.
 */
export async function counterexampleJob(path: string): Promise<number> {
  let c: ReturnType<typeof readCounterexample>;
  try {
    c = readCounterexample(path);
  } catch (e) {
    throw new UsageError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const data = tokenData(c.token);
  let driver: Awaited<ReturnType<typeof loadProbedDriver>>;
  try {
    driver = await loadProbedDriver(c.file);
  } catch (e) {
    if (e instanceof DriverLoadError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
  const label = relative(process.cwd(), c.file);
  const exact = await replayToken(driver, data);
  const broke = exact.run.violations[0];
  if (broke !== undefined) {
    const how = exact.divergence === null ? 'exactly as recorded' : 'on a changed path';
    process.stdout.write(`reproduced  ${path}: ${broke.rule} at step ${broke.step}, ${how}; hmmlab replay ${label} ${c.token}\n`);
    return 1;
  }
  const lenient = await replay(driver, data.scenario, data.decisions);
  const again = lenient.violations[0];
  if (again !== undefined) {
    process.stdout.write(
      `reproduced  ${path}: the scenario still breaks ${again.rule} (step ${again.step}) with the recorded choices; hmmlab replay ${label} ${c.token}\n`,
    );
    return 1;
  }
  process.stdout.write(`fixed       ${path}: ${c.rule} of ${c.driver} no longer happens\n`);
  return 0;
}
