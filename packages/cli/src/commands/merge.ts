/**
 * `hmmlab merge <result.json...>`: joins the `--json` results of `hmmlab fuzz --shard i/n` into the
 * result of the one campaign. Exit 0: every driver as expected; 1: a violation (or a known bug
 * missed); 2: files that are not the shards 1..n of one campaign.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { table } from '../internal/format.js';
import { type Merged, mergeResults } from '../internal/merge-results.js';
import { prepareOutput } from '../internal/output.js';
import { UsageError } from '../internal/usage.js';

/** Options of `hmmlab merge`. */
export interface MergeCommandOptions {
  json?: boolean;
  /** Also write the merged JSON document to this file. */
  out?: string;
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`merge: ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** The merged JSON document (without the warnings, which go to stderr). */
function document(m: Merged): string {
  const { warnings: _w, ...doc } = m;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function text(m: Merged): string {
  const first = m.drivers[0];
  const out: string[] = [];
  if (first?.campaign !== undefined) {
    const c = first.campaign;
    out.push(
      `merged ${first.merged.shards} shard(s) of one campaign: seed ${String(c.seed)}, ${c.runs} runs, strategy ${String(c.strategy)}`,
    );
  }
  const rows = m.drivers.map((e) => [
    e.file,
    e.status,
    String(e.runs),
    e.violations[0] === undefined ? '-' : `${e.violations[0].rule} in run ${e.failingRun}`,
    `${e.coverage.reachedCells} of ${e.coverage.expectedCells}`,
    `${e.flushes.total.missed}`,
  ]);
  out.push(table(['driver', 'verdict', 'runs', 'first violation', 'cells', 'missed flushes'], rows));
  for (const e of m.drivers) {
    if (e.replay !== null) out.push('', `${e.file}: replay: hmmlab replay ${e.file} ${e.replay}`);
    for (const n of e.coverage.notes) out.push(`${e.file}: note: ${n}`);
  }
  return `${out.join('\n')}\n`;
}

/** Runs the command; returns the exit code. */
export function mergeCommand(files: readonly string[], o: MergeCommandOptions): number {
  if (o.out !== undefined) prepareOutput('--out', o.out);
  const merged = mergeResults(files.map((f) => ({ name: f, text: read(f) })));
  for (const w of merged.warnings) process.stderr.write(`hmmlab: warning: ${w}\n`);
  if (o.out !== undefined) writeFileSync(o.out, document(merged));
  process.stdout.write(o.json === true ? document(merged) : text(merged));
  return merged.drivers.every((e) => e.status === 'pass' || e.status === 'caught') ? 0 : 1;
}
