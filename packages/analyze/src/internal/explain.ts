/**
 * `explain`: the decision table of each invalidate callback of a driver (interval `invalidate`,
 * classic `invalidateRangeStart`): one row per path, by its conditions on the event, the owner,
 * blockability and driver state, with the flushes it issues, whether it calls
 * `mmuIntervalSetSeq`, and what it returns.
 */
import { displayPath, expandPaths } from './files.js';
import { analyzeFiles, type PathResult } from './model/analyze.js';
import { Program } from './model/program.js';
import { type DecisionRow, type DecisionTable, type ExplainResult, formatTables, rowHeader } from './tables.js';

function row(p: PathResult): DecisionRow {
  const s = p.state;
  const flushes: string[] = [];
  for (const e of s.effects) if (e.t === 'flush') flushes.push(`${e.op}(${e.target})`);
  const h = rowHeader(s);
  return {
    event: h.event,
    owner: h.owner,
    blockable: h.blockable,
    state: s.decisions.filter((d) => d.kind !== 'owner' && d.kind !== 'blockable').map((d) => ({ test: d.text, value: d.value })),
    flushes,
    setSeq: h.setSeq,
    setSeqUnder: h.setSeqUnder,
    returns: p.outcome === 'throw' ? 'throws' : p.returned,
  };
}

/**
 * The decision tables of the invalidate callbacks the driver in `paths` registers (files or
 * folders; the classes and functions they use are followed into other files).
 */
export function explain(paths: string | readonly string[], options: { readonly cwd?: string } = {}): ExplainResult {
  const files = expandPaths('explain', typeof paths === 'string' ? [paths] : paths);
  const cwd = options.cwd ?? process.cwd();
  const program = new Program('explain', cwd);
  const a = analyzeFiles(
    program,
    files.map((f) => program.file(f)),
  );
  const tables: DecisionTable[] = [];
  for (const cb of a.callbacks) {
    if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
    tables.push({
      callback: cb.name,
      kind: cb.kind,
      file: displayPath(cb.fn.node.getSourceFile().getFilePath(), cwd),
      line: cb.fn.node.getStartLineNumber(),
      truncated: cb.truncated,
      rows: cb.paths.map(row),
    });
  }
  return { tables, text: formatTables(tables) };
}
