/**
 * The order the test files run in: the longest file first, by the seconds `durations.json`
 * records for each file (it lists the files that took a second or more; any other counts zero).
 * Longest first keeps both workers busy to the end: vitest's own order puts files it has no
 * timing for largest first, and on a fresh clone that started the 10,000-run campaigns of the
 * correct examples, whose files are three lines long, last. Rewrite durations.json after a run
 * that changed the heavy files:
 * `npx vitest run --reporter=json --outputFile=/tmp/report.json && npx tsx test/setup/durations.ts /tmp/report.json`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestSpecification } from 'vitest/node';
import { BaseSequencer } from 'vitest/node';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DURATIONS: Readonly<Record<string, number>> = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8'));

/** Seconds a file took in the recorded run; zero for a file it does not list. */
function secondsOf(spec: TestSpecification): number {
  return DURATIONS[relative(root, spec.moduleId)] ?? 0;
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => secondsOf(b) - secondsOf(a) || a.moduleId.localeCompare(b.moduleId));
  }
}
