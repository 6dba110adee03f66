/**
 * `lint` and `explain` on kernel C: the same findings and decision tables as for TypeScript
 * models (see ../internal/lint.ts and ../internal/explain.ts), from the C driver's sources.
 */

import { AnalyzeError } from '../internal/errors.js';
import { displayPath } from '../internal/files.js';
import type { Finding, Incomplete, LintOptions } from '../internal/lint.js';
import { type DecisionRow, type DecisionTable, type ExplainResult, rowHeader } from '../internal/tables.js';
import { analyzeC, type CAnalysis } from './analyze.js';
import type { CEffect, CPath } from './interp.js';
import { C_RULES, checkC } from './rules.js';

/** What {@link lintC} returns: the findings, and what was read. */
export interface CLintResult {
  /** Every finding, sorted by file, line and rule. */
  readonly findings: Finding[];
  /** What the run covered. */
  readonly stats: {
    /** C files read. */
    readonly files: number;
    /** Files parsed: those that mention the notifier API. */
    readonly parsed: number;
    /** Notifier callbacks checked. */
    readonly callbacks: number;
    /** Fault paths checked (functions that call `mmu_interval_read_retry`). */
    readonly faultPaths: number;
  };
  /** Callbacks named by an ops table but defined in none of the files (`table.field → function`). */
  readonly unresolved: readonly string[];
  /** Callbacks and functions with more paths than the analysis follows: the paths past the budget were not checked. */
  readonly incomplete: readonly Incomplete[];
}

/**
 * Lints C driver sources (`.c`/`.h` files or folders): every notifier ops table's callbacks and
 * every fault path that checks `mmu_interval_read_retry`, with the TypeScript checker's rule ids.
 */
export async function lintC(paths: readonly string[], options: LintOptions = {}): Promise<CLintResult> {
  const known = new Set(C_RULES.map((r) => r.id));
  for (const id of options.rules ?? []) {
    if (!known.has(id)) throw new AnalyzeError('ERR_USAGE', `lint: unknown rule "${id}"; expected one of ${[...known].join(', ')}`);
  }
  const cwd = options.cwd ?? process.cwd();
  const a = await analyzeC('lint', paths);
  const findings: Finding[] = checkC(a, options.rules).map((f) => ({
    rule: f.rule,
    severity: f.severity,
    file: displayPath(f.at.file, cwd),
    line: f.at.line,
    message: f.message,
  }));
  findings.sort((x, y) =>
    x.file < y.file ? -1 : x.file > y.file ? 1 : x.line - y.line || (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0),
  );
  const incomplete: Incomplete[] = [];
  for (const r of [...a.callbacks, ...a.entries, ...a.teardowns]) {
    const at = { name: r.name, file: displayPath(r.fn.file, cwd), line: r.line };
    if (r.truncated && !incomplete.some((x) => x.file === at.file && x.line === at.line)) incomplete.push(at);
  }
  return {
    findings,
    stats: { files: a.read, parsed: a.parsed, callbacks: a.callbacks.length, faultPaths: a.entries.length },
    unresolved: a.unresolved,
    incomplete,
  };
}

/** True if the inlined helper `op` calls a device operation (it is not only a lock or a getter). */
function doesDeviceWork(ops: readonly Extract<CEffect, { t: 'op' }>[], op: Extract<CEffect, { t: 'op' }>): boolean {
  for (const x of ops.slice(ops.indexOf(op) + 1)) {
    if (x.depth <= op.depth) return false;
    if (!x.inlined) return true;
  }
  return false;
}

/** Waits for the device's work on a buffer or fence: what a driver that revokes by waiting (i915's userptr) flushes with. */
const DEVICE_WAIT = /^dma_(fence|resv)_wait\w*\(\)$/;

function row(p: CPath): DecisionRow {
  const s = p.state;
  const flushes: string[] = [];
  const ops = s.effects.filter((e) => e.t === 'op');
  for (const e of s.effects) {
    if (e.t === 'op' && e.depth === 0 && !e.operand && (!e.inlined || doesDeviceWork(ops, e))) flushes.push(`${e.name}(${e.target})`);
    if (e.t === 'sleep' && e.depth === 0 && DEVICE_WAIT.test(e.what)) flushes.push(e.what.replace(/\(\)$/, `(${e.target ?? ''})`));
  }
  const h = rowHeader(s);
  return {
    event: h.event,
    owner: h.owner,
    blockable: h.blockable,
    state: s.decisions.filter((d) => !d.text.startsWith('mmu_notifier_range_blockable')).map((d) => ({ test: d.text, value: d.value })),
    flushes,
    setSeq: h.setSeq,
    setSeqUnder: h.setSeqUnder,
    returns: p.returned,
  };
}

/** The decision tables of a C analysis (interval `invalidate` and `invalidate_range_start` callbacks). */
function cTables(a: CAnalysis, cwd: string): DecisionTable[] {
  const tables: DecisionTable[] = [];
  for (const cb of a.callbacks) {
    if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
    tables.push({
      callback: cb.name,
      kind: cb.kind,
      file: displayPath(cb.fn.file, cwd),
      line: cb.line,
      truncated: cb.truncated,
      // Loops run zero times or once: paths that differ only inside a loop give the same row.
      rows: [...new Map(cb.paths.map(row).map((r) => [JSON.stringify(r), r])).values()],
    });
  }
  return tables;
}

/** The decision table of each invalidate callback the C files in `paths` register. */
export async function explainC(
  paths: readonly string[],
  format: (t: readonly DecisionTable[]) => string,
  options: { readonly cwd?: string } = {},
): Promise<ExplainResult> {
  const a = await analyzeC('explain', paths);
  const tables = cTables(a, options.cwd ?? process.cwd());
  return { tables, text: format(tables) };
}
