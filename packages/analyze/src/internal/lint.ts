/** `lint`: runs the rules over driver sources and places each finding in a file and line. */
import { RULES } from '../rules/all.js';
import type { Severity } from '../rules/rule.js';
import { AnalyzeError } from './errors.js';
import { displayPath, expandPaths } from './files.js';
import { analyzeFiles } from './model/analyze.js';
import { Program } from './model/program.js';

/** One finding of {@link lint}. */
export interface Finding {
  /** Stable rule id, e.g. `skip-before-set-seq`. */
  readonly rule: string;
  /** `error` or `warning`. */
  readonly severity: Severity;
  /** Path of the file, relative to `cwd` when it lies under it. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** What is wrong and what to change. */
  readonly message: string;
}

/** Options of {@link lint}. */
export interface LintOptions {
  /** Run only these rules (ids). @defaultValue every rule */
  readonly rules?: readonly string[];
  /** Paths in findings are relative to this folder. @defaultValue process.cwd() */
  readonly cwd?: string;
}

/** What {@link lint} returns. */
export interface LintResult {
  /** Every finding, sorted by file, line and rule. */
  readonly findings: Finding[];
  /** How many notifier callbacks the drivers register were checked: 0 means nothing was. */
  readonly callbacks: number;
  /**
   * Callbacks and functions whose paths outnumbered the analysis's budget: the paths past it were
   * not checked, so no finding there does not mean they pass.
   */
  readonly incomplete: readonly Incomplete[];
}

/** A function the analysis did not follow to the end of every path. */
export interface Incomplete {
  /** `Class.member` or the function's name. */
  readonly name: string;
  /** The file it is defined in, relative to the working folder. */
  readonly file: string;
  /** The line its definition starts on. */
  readonly line: number;
}

/**
 * The ids of every lint rule, with their default severity and what they catch.
 * @returns each rule's `id`, default `severity` and `description`
 */
export function lintRules(): { id: string; severity: Severity; description: string }[] {
  return RULES.map((r) => ({ id: r.id, severity: r.severity, description: r.description }));
}

/**
 * Lints driver sources: `paths` are files or folders (their `.ts` files, tests left out). Each
 * notifier callback the drivers register is run symbolically over all its paths (see
 * docs on the rules in `lintRules()`); findings come sorted by file, line and rule.
 */
export function lint(paths: readonly string[], options: LintOptions = {}): LintResult {
  const files = expandPaths('lint', paths);
  const known = new Set(RULES.map((r) => r.id));
  for (const id of options.rules ?? []) {
    if (!known.has(id)) throw new AnalyzeError('ERR_USAGE', `lint: unknown rule "${id}"; expected one of ${[...known].join(', ')}`);
  }
  const cwd = options.cwd ?? process.cwd();
  const program = new Program('lint', cwd);
  const analysis = analyzeFiles(
    program,
    files.map((f) => program.file(f)),
  );
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const rule of RULES) {
    if (options.rules !== undefined && !options.rules.includes(rule.id)) continue;
    for (const raw of rule.check(analysis)) {
      const f: Finding = {
        rule: rule.id,
        severity: raw.severity ?? rule.severity,
        file: displayPath(raw.node.getSourceFile().getFilePath(), cwd),
        line: raw.node.getStartLineNumber(),
        message: raw.message,
      };
      const key = `${f.rule}\0${f.file}\0${f.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      findings.push(f);
    }
  }
  findings.sort((x, y) =>
    x.file < y.file ? -1 : x.file > y.file ? 1 : x.line - y.line || (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0),
  );
  const incomplete: Incomplete[] = [];
  for (const r of [...analysis.callbacks, ...analysis.entries]) {
    if (!r.truncated) continue;
    const at = { file: displayPath(r.fn.node.getSourceFile().getFilePath(), cwd), line: r.fn.node.getStartLineNumber() };
    if (!incomplete.some((x) => x.file === at.file && x.line === at.line)) incomplete.push({ name: r.name, ...at });
  }
  return { findings, callbacks: analysis.callbacks.length, incomplete };
}
