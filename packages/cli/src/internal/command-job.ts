/**
 * Runs in a watched worker (runtime.ts): calls one command function with its output captured, and
 * returns the output with the exit status, for the main thread to print.
 */
import { replayToken } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import type { WatchedCommand } from './runtime.js';
import { writeTimeline } from './timeline.js';

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
