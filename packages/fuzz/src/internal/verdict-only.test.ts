/**
 * A campaign scans and shrinks with a verdict-only oracle (`scanSample`), and shows what a replay
 * with the whole oracle finds. Both must judge every run the same: over samples of every driver of
 * examples/ (the bug zoo with the shape each case asks for, its controls, the correct templates),
 * the verdict, the rules and where they fired (task, address, device), the coverage, the flush
 * counts and the run itself (status, steps, scheduler decisions) are the same. Not the
 * explanations, which leave out the history of pages, nor the step of a violation of the whole
 * run (a deadlock, a leak at exit): it is the last event the oracle saw, which may be an earlier
 * one when the last was a lock or page-alloc event.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OracleReport, RuleId } from '@hmmlab/assertions';
import { loadDriver } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import type { ScenarioShape } from './arbitraries.js';
import { runGen, runSample, scanSample } from './campaign.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples', import.meta.url));
/** Samples per driver. */
const SAMPLES = 40;

/** Every folder under examples/ with a driver.ts, and the shape its expected.json asks for. */
function drivers(dir = EXAMPLES): { name: string; file: string; shape: ScenarioShape }[] {
  const out: { name: string; file: string; shape: ScenarioShape }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules') continue;
    const d = join(dir, e.name);
    const file = join(d, 'driver.ts');
    if (!existsSync(file)) {
      out.push(...drivers(d));
      continue;
    }
    const expected = join(d, 'expected.json');
    const shape = existsSync(expected)
      ? ((JSON.parse(readFileSync(expected, 'utf8')) as { fuzz?: { shape?: ScenarioShape } }).fuzz?.shape ?? {})
      : {};
    out.push({ name: d.slice(EXAMPLES.length + 1), file, shape });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Rules the oracle reports at the end of a run, at the last event it saw. */
const RUN_LEVEL: ReadonlySet<RuleId> = new Set<RuleId>(['deadlock', 'livelock', 'callback-hung', 'callback-threw', 'leak-at-exit']);

/** What a campaign reads of a run, and where each violation fired (when, for a rule checked at an event). */
function judged(r: OracleReport) {
  return {
    verdict: r.verdict,
    violations: r.violations.map((v) => [v.rule, v.task, v.va, v.device, v.page, ...(RUN_LEVEL.has(v.rule) ? [] : [v.step, v.seq])]),
    coverage: r.coverage,
    metrics: r.metrics,
    run: { status: r.run.status, steps: r.run.steps, decisions: r.run.decisions },
  };
}

const all = drivers();
const failed = new Set<string>();

describe('runs a campaign scans with a verdict-only oracle', () => {
  it.each(all.map((d) => [d.name, d]))('should judge every run of %s as the whole oracle does', async (_name, d) => {
    const driver = await loadDriver(d.file);
    const options = { runs: SAMPLES, shape: d.shape };
    const gen = runGen(driver, options);
    for (let i = 0; i < SAMPLES; i++) {
      const sample = gen.draw(new fc.Random(xoroshiro128plus(i)));
      const whole = await runSample(driver, sample, options);
      const only = await scanSample(driver, sample, options);
      expect(judged(only)).toEqual(judged(whole));
      for (const v of only.violations) {
        expect(v.trace).toEqual([]);
        failed.add(v.rule);
      }
    }
  });

  it('should have compared failing runs of many rules', () => {
    // Not a test of its own when the cases above ran alone.
    if (failed.size === 0) return;
    expect(failed.size).toBeGreaterThanOrEqual(8);
  });
});
