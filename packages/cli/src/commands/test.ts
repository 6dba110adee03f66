/**
 * `hmmlab test [vitest args]`: runs a driver repository's tests the way its authors run them, with
 * vitest from that repository (see docs/guide/your-repo.md for the layout hmmlab expects).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UsageError } from '../internal/usage.js';

/** Runs the command; returns vitest's exit code. */
export function testCommand(args: readonly string[]): number {
  const pkg = join(process.cwd(), 'package.json');
  if (!existsSync(pkg)) throw new UsageError(`no package.json in ${process.cwd()}; run hmmlab test from your driver repository's root`);
  let vitest: string;
  try {
    vitest = createRequire(pkg)
      .resolve('vitest/package.json')
      .replace(/package\.json$/, 'vitest.mjs');
  } catch {
    throw new UsageError('vitest is not installed in this repository; add it (npm i -D vitest@4) and run hmmlab test again');
  }
  const r = spawnSync(process.execPath, [...process.execArgv, vitest, 'run', ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}
