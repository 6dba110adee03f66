/**
 * Finding driver modules: a `driver.ts` path, a folder holding one, or a folder of such folders
 * (`examples`), each with its optional `expected.json` (the rules that must find its known bug).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { RULE_IDS, type RuleId } from '@hmmlab/assertions';
import { checkScenarioShape, type ReplayData, type ScenarioShape } from '@hmmlab/fuzz';
import { tokenData } from './timeline.js';
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

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The message of a shape {@link checkScenarioShape} refused, without its own prefix. */
function shapeMessage(e: unknown): string {
  return e instanceof Error ? e.message.replace(/^scenario shape: /, '') : String(e);
}

const SHAPE_EXAMPLE = '{"regions":{"min":1,"max":1},"driverPrograms":{"min":1,"max":1}}';

/**
 * `--shape`: scenario-shape fields for every campaign, given as a JSON object or as a file holding
 * one, checked as an expected.json's are. The kernel stays as it is: `profileOverrides` (a kernel
 * what-if) belongs to an expected.json, whose `kind` says that a violation is not a driver bug.
 */
export function parseShapeOption(value: string): ScenarioShape {
  let text = value;
  if (!/^\s*[[{"]/.test(value)) {
    if (!existsSync(value) || !statSync(value).isFile()) {
      throw new UsageError(`--shape ${value}: no such file; give a JSON object like '${SHAPE_EXAMPLE}' or a file holding one`);
    }
    text = readFileSync(value, 'utf8');
  }
  const where = text === value ? '--shape' : `--shape ${value}`;
  let shape: unknown;
  try {
    shape = JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `${where}: not valid JSON (${e instanceof Error ? e.message : String(e)}); expected an object like ${SHAPE_EXAMPLE}`,
    );
  }
  if (!isObject(shape)) throw new UsageError(`${where}: expected a JSON object like ${SHAPE_EXAMPLE}`);
  if ('profileOverrides' in shape) {
    throw new UsageError(
      `${where}: profileOverrides changes the modelled kernel; a kernel what-if goes in an expected.json beside the driver, with "kind": "kernel-what-if"`,
    );
  }
  // The campaign sets these from the driver and the command line, over any shape's.
  const fromDriver: Record<string, string> = {
    profiles: 'the profiles come from the driver (defineDriver({ profiles })) or --profile',
    commands: "the commands come from the driver's defineDriver({ commands })",
    bindDevices: "the devices a process binds come from the driver's defineDriver({ bindDevices })",
  };
  for (const k of Object.keys(fromDriver)) if (k in shape) throw new UsageError(`${where}: ${k}: ${fromDriver[k]}`);
  try {
    checkScenarioShape(shape as ScenarioShape);
  } catch (e) {
    throw new UsageError(`${where}: ${shapeMessage(e)}`);
  }
  return shape as ScenarioShape;
}

/** A campaign's scenario shape: the driver's expected.json shape, with `--shape`'s fields over it; undefined when neither gives one. */
export function campaignShape(target: DriverTarget, option: ScenarioShape | undefined): ScenarioShape | undefined {
  const own = target.expected?.fuzz?.shape;
  if (option === undefined) return own;
  return own === undefined ? option : { ...own, ...option };
}

/** Where a campaign's shape came from, for its report line. */
export function shapeOrigin(target: DriverTarget, option: ScenarioShape | undefined): string {
  const own = target.expected?.fuzz?.shape !== undefined;
  return option === undefined ? 'from expected.json' : own ? 'from expected.json and --shape' : 'from --shape';
}

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
      throw new UsageError(`${f}: "fuzz.shape": ${shapeMessage(e)}`);
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

/**
 * The driver and the run of a replay (`hmmlab replay`, `hmmlab report`): the one driver at
 * `driverPath`, and the token's data. Checked before anything starts: a usage error, not a run.
 */
export function replayArguments(driverPath: string, token: string): { target: DriverTarget; data: ReplayData } {
  const targets = findDrivers([driverPath]);
  const [target] = targets;
  if (target === undefined) throw new UsageError(`${driverPath}: no driver`);
  // A token is a run of one driver: a folder of several would have to be guessed from.
  if (targets.length > 1) {
    throw new UsageError(
      `${driverPath}: holds ${targets.length} drivers; give the one the token was recorded with (its folder or driver.ts)`,
    );
  }
  return { target, data: tokenData(token) };
}
