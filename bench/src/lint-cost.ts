/**
 * What `hmmlab lint` costs: every example driver linted in one process, side by side with parsing
 * the same source files alone (a ts-morph project per driver with its files added and nothing
 * else: the floor no analysis of those sources goes below). Rounds alternate which side goes first.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { lint } from '@hmmlab/analyze';
import { Project } from 'ts-morph';
import { alternating, median } from './measure.js';

/** Figures of {@link lintCost}. */
export interface LintCost {
  /** Example drivers linted in a round. */
  readonly drivers: number;
  /** Their source files (the driver modules and what they import by relative path). */
  readonly files: number;
  readonly rounds: number;
  /** A round of lints, median over the rounds. */
  readonly lintMs: number;
  /** A round of parses of the same files, median over the rounds. */
  readonly parseMs: number;
  /** The median of the rounds' own lint/parse ratios. */
  readonly ratio: number;
  /** Findings in a round, the same every round (a check that the rounds did the same work). */
  readonly findings: number;
}

/** Example folders holding a driver.ts, under `examples` and its subfolders, sorted. */
function exampleDrivers(dir = 'examples'): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules') continue;
    const d = join(dir, e.name);
    if (existsSync(join(d, 'driver.ts'))) out.push(join(d, 'driver.ts'));
    out.push(...exampleDrivers(d));
  }
  return out.sort();
}

const RELATIVE_IMPORT = /\bfrom\s+'(\.\.?\/[^']+)'/g;

/** `file` and the TypeScript files it imports by relative path, transitively. */
function sourcesOf(file: string): string[] {
  const seen = new Set<string>();
  const queue = [resolve(file)];
  while (queue.length > 0) {
    const f = queue.pop() as string;
    if (seen.has(f) || !existsSync(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(RELATIVE_IMPORT)) {
      queue.push(resolve(dirname(f), (m[1] as string).replace(/\.js$/, '.ts')));
    }
  }
  return [...seen];
}

/** Lints every example driver `rounds` times, and parses their sources as many times. */
export async function lintCost(rounds: number): Promise<LintCost> {
  const drivers = exampleDrivers();
  const sources = drivers.map(sourcesOf);
  let findings = -1;
  const lintRound = (): number => {
    const t = performance.now();
    let n = 0;
    for (const d of drivers) n += lint([d]).findings.length;
    const ms = performance.now() - t;
    if (findings >= 0 && n !== findings) throw new Error(`bench: lint found ${n} findings in a round, ${findings} in another`);
    findings = n;
    return ms;
  };
  const parseRound = (): number => {
    const t = performance.now();
    for (const files of sources) {
      const p = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
      for (const f of files) p.addSourceFileAtPath(f);
    }
    return performance.now() - t;
  };
  // A first round of each, not counted: the JIT compiles the analysis and the parser.
  lintRound();
  parseRound();
  const r = await alternating(rounds, lintRound, parseRound);
  return {
    drivers: drivers.length,
    files: new Set(sources.flat()).size,
    rounds,
    lintMs: Math.round(median(r.first)),
    parseMs: Math.round(median(r.second)),
    ratio: Number(median(r.first.map((l, i) => l / (r.second[i] as number))).toFixed(1)),
    findings,
  };
}
