/**
 * Writes durations.json (see sequencer.ts) from a vitest JSON report: each test file's seconds,
 * rounded, for the files that took at least one.
 *   npx tsx test/setup/durations.ts REPORT.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Report {
  readonly testResults: readonly { readonly name: string; readonly startTime: number; readonly endTime: number }[];
}

const [file] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: tsx test/setup/durations.ts REPORT.json (from vitest run --reporter=json --outputFile=REPORT.json)\n');
  process.exit(2);
}
const root = fileURLToPath(new URL('../..', import.meta.url));
const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
const out: Record<string, number> = {};
for (const r of [...report.testResults].sort((a, b) => a.name.localeCompare(b.name))) {
  const seconds = Math.round((r.endTime - r.startTime) / 1000);
  if (seconds >= 1) out[relative(root, r.name)] = seconds;
}
writeFileSync(new URL('./durations.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`test/setup/durations.json: ${Object.keys(out).length} files\n`);
