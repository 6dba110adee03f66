/**
 * Finding driver modules: a `driver.ts` path, a folder holding one, or a folder of such folders
 * (`examples`), each with its optional `expected.json` (the rules that must find its known bug).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { RULE_IDS, type RuleId } from '@hmmlab/assertions';
import { checkScenarioShape, type ScenarioShape } from '@hmmlab/fuzz';
import { UsageError } from './usage.js';

/** What a driver's `expected.json` says. */
export interface Expected {
  /** The bug class (bug-classes.md), for the zoo. */
  readonly class?: string;
  /**
   * `driver-bug`: the driver breaks the contract on a modelled kernel as it is. `kernel-what-if`:
   * it does only on a kernel changed by `fuzz.shape.profileOverrides`. Read from the file or, when
   * absent, from whether the shape overrides the kernel.
   */
  readonly kind: ExpectedKind;
  /** Oracle rules, any of which counts as catching the bug. */
  readonly rules: readonly RuleId[];
  /** Static rules that should see it. */
  readonly lint?: readonly string[];
  /**
   * How a campaign reaches the bug: the scenario shape, with the kernel what-if
   * (`shape.profileOverrides`) or the ops (`shape.exit`) the default campaign lacks.
   */
  readonly fuzz?: { readonly shape?: ScenarioShape };
}

/** What a known bug is: the driver's on a modelled kernel, or a consequence of a changed kernel. */
export type ExpectedKind = 'driver-bug' | 'kernel-what-if';

const KINDS: readonly ExpectedKind[] = ['driver-bug', 'kernel-what-if'];

/** One driver to run. */
export interface DriverTarget {
  /** The module file. */
  readonly file: string;
  /** How to show it: the path relative to the working directory. */
  readonly label: string;
  readonly expected: Expected | null;
}

const DRIVER_FILES = ['driver.ts', 'driver.js', 'driver.mts', 'driver.mjs'];

function readExpected(dir: string): Expected | null {
  const f = join(dir, 'expected.json');
  if (!existsSync(f)) return null;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new UsageError(`${f}: not valid JSON (${e instanceof Error ? e.message : String(e)}); expected { "rules": ["missed-flush"] }`);
  }
  const rules = (data as { rules?: unknown }).rules;
  if (!Array.isArray(rules) || rules.length === 0 || !rules.every((r) => typeof r === 'string' && (RULE_IDS as string[]).includes(r))) {
    throw new UsageError(`${f}: "rules" must list oracle rule ids (${RULE_IDS.join(', ')})`);
  }
  const fuzz = (data as { fuzz?: unknown }).fuzz;
  const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (
    fuzz !== undefined &&
    (!isObject(fuzz) || ((fuzz as { shape?: unknown }).shape !== undefined && !isObject((fuzz as { shape?: unknown }).shape)))
  ) {
    throw new UsageError(`${f}: "fuzz" must be an object like { "shape": { "exit": true } }`);
  }
  const shape = (fuzz as { shape?: ScenarioShape } | undefined)?.shape;
  if (shape !== undefined) {
    try {
      checkScenarioShape(shape);
    } catch (e) {
      throw new UsageError(`${f}: "fuzz.shape": ${e instanceof Error ? e.message.replace(/^scenario shape: /, '') : String(e)}`);
    }
  }
  const overrides = (fuzz as { shape?: { profileOverrides?: unknown } } | undefined)?.shape?.profileOverrides;
  const whatIf = overrides !== undefined && (!isObject(overrides) || Object.keys(overrides as object).length > 0);
  const kind = (data as { kind?: unknown }).kind ?? (whatIf ? 'kernel-what-if' : 'driver-bug');
  if (!(KINDS as unknown[]).includes(kind)) throw new UsageError(`${f}: "kind" must be one of ${KINDS.join(', ')}`);
  if (kind === 'driver-bug' && whatIf) {
    throw new UsageError(
      `${f}: a driver bug is caught on a modelled kernel as it is; a case that needs "fuzz.shape.profileOverrides" has "kind": "kernel-what-if"`,
    );
  }
  if (kind === 'kernel-what-if' && !whatIf)
    throw new UsageError(`${f}: a kernel what-if names the kernel change in "fuzz.shape.profileOverrides"`);
  return { ...(data as Omit<Expected, 'kind'>), kind: kind as ExpectedKind };
}

/** A driver's outcome as the summary counts it. */
export interface Judged {
  readonly target: DriverTarget;
  readonly status: 'pass' | 'fail' | 'caught' | 'missed' | 'wrong-rule';
}

/**
 * The summary line of a run over several drivers, each group counted apart:
 * "19 of 19 driver bugs caught, 2 of 2 kernel what-ifs caught, 15 of 15 correct drivers pass".
 */
export function summaryLine(outcomes: readonly Judged[]): string {
  const parts: string[] = [];
  const group = (of: (x: Judged) => boolean, ok: Judged['status'], what: string, verb: string): void => {
    const all = outcomes.filter(of);
    if (all.length > 0) parts.push(`${all.filter((x) => x.status === ok).length} of ${all.length} ${what} ${verb}`);
  };
  group((x) => x.target.expected?.kind === 'driver-bug', 'caught', 'driver bugs', 'caught');
  group((x) => x.target.expected?.kind === 'kernel-what-if', 'caught', 'kernel what-ifs', 'caught');
  group((x) => x.target.expected === null, 'pass', 'correct drivers', 'pass');
  return parts.join(', ');
}

/** The driver module of folder `dir`, or null. */
export function driverIn(dir: string): string | null {
  for (const n of DRIVER_FILES) if (existsSync(join(dir, n))) return join(dir, n);
  return null;
}

function scan(dir: string, depth: number, out: string[]): void {
  if (depth > 3) return;
  const d = driverIn(dir);
  if (d !== null) {
    out.push(d);
    return;
  }
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) scan(join(dir, entry.name), depth + 1, out);
  }
}

/** Resolves command-line paths to driver modules. */
export function findDrivers(paths: readonly string[]): DriverTarget[] {
  if (paths.length === 0)
    throw new UsageError('no driver given; pass a driver.ts, a folder holding one, or a folder of drivers (for example: examples)');
  const files: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new UsageError(`${p}: no such file or folder`);
    if (statSync(abs).isDirectory()) {
      const before = files.length;
      scan(abs, 0, files);
      if (files.length === before) throw new UsageError(`${p}: no driver.ts in this folder or below it`);
    } else {
      files.push(abs);
    }
  }
  return files.map((file) => {
    const dir = file.slice(0, file.lastIndexOf('/'));
    // expected.json describes the folder's driver.ts; another module beside it (a fixed twin) is judged on its own.
    const isFolderDriver = DRIVER_FILES.includes(file.slice(dir.length + 1));
    return { file, label: relative(process.cwd(), file) || file, expected: isFolderDriver ? readExpected(dir) : null };
  });
}
