/**
 * The port of the kernel's hmm-tests (test/hmm-tests), run by the bench itself: each test file
 * is imported with `vitest` resolved to a small stand-in (vitest-shim.ts), and every case runs
 * in turn in this process. Its figure is the run time of the cases, comparable with the real
 * kernel's run of the same selftests.
 */
import { readdirSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { registeredCases, Skipped } from './vitest-shim.js';

/** The run time of the port's cases. */
export interface HmmTestsRun {
  /** Cases run (ported kernel tests times fixture variants). */
  readonly cases: number;
  readonly passed: number;
  readonly skipped: number;
  /** Cases that failed, with the first line of their error. */
  readonly failed: readonly string[];
  /** Sum of the cases' run times. */
  readonly ms: number;
  /** Run time per test file. */
  readonly msByFile: Record<string, number>;
  /** The slowest cases, slowest first. */
  readonly slowest: readonly { name: string; ms: number }[];
}

let hooked = false;

/** Runs every case of the `*.test.ts` files of `dir` once. */
export async function hmmTestsPort(dir = 'test/hmm-tests'): Promise<HmmTestsRun> {
  if (!hooked) {
    register('./vitest-hook.mjs', import.meta.url);
    hooked = true;
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
  const msByFile: Record<string, number> = {};
  const times: { name: string; ms: number }[] = [];
  const failed: string[] = [];
  let skipped = 0;
  let passed = 0;
  for (const f of files) {
    const before = registeredCases().length;
    await import(pathToFileURL(resolve(join(dir, f))).href);
    const mine = registeredCases().slice(before);
    let fileMs = 0;
    for (const c of mine) {
      const t = performance.now();
      try {
        await c.fn({
          skip(note?: string): never {
            throw new Skipped(note);
          },
        });
        passed++;
      } catch (e) {
        if (e instanceof Skipped) skipped++;
        else failed.push(`${c.name}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
      }
      const ms = performance.now() - t;
      fileMs += ms;
      times.push({ name: `${f} > ${c.name}`, ms });
    }
    msByFile[f] = Math.round(fileMs);
  }
  const ms = times.reduce((a, b) => a + b.ms, 0);
  times.sort((a, b) => b.ms - a.ms);
  return {
    cases: times.length,
    passed,
    skipped,
    failed,
    ms: Math.round(ms),
    msByFile,
    slowest: times.slice(0, 5).map((t) => ({ name: t.name, ms: Math.round(t.ms) })),
  };
}
