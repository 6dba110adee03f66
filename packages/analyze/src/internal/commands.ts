/**
 * Entry points for the command line (`hmmlab lint | explain | codemod | init`): each takes the
 * options a CLI framework parsed and returns the exit code and what to print. Usage errors (a
 * missing file, an unknown profile or template) exit 2 with one line saying what to do.
 */
import { codemod } from './codemod/codemod.js';
import { type CommandResult, incompleteNote, needPaths, usage } from './command-result.js';
import { explain } from './explain.js';
import { init, TEMPLATE_NAMES } from './init/init.js';
import { lint } from './lint.js';

/** Shared options: paths in output are relative to `cwd`. */
interface CommonOptions {
  readonly cwd?: string;
}

/** Command-line words after the command name, as an alternative to parsed options. */
export type Argv = readonly string[];

/** Parsed options from argv words: `--flag`, `--name value`, `--name=value`, the rest positional. */
function parseArgv(argv: Argv, valued: readonly string[]): { flags: Map<string, string | true>; positional: string[] } {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] as string;
    if (!w.startsWith('--')) {
      positional.push(w);
      continue;
    }
    const [name, value] = w.slice(2).split('=', 2) as [string, string | undefined];
    if (value !== undefined) flags.set(name, value);
    else if (valued.includes(name) && i + 1 < argv.length) flags.set(name, argv[++i] as string);
    else flags.set(name, true);
  }
  return { flags, positional };
}

function str(v: string | true | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function isArgv(o: unknown): o is Argv {
  return Array.isArray(o);
}

/** Options of every command from argv words (`--json`, `--dry-run`, `--from`, `--to`, `--template`, paths). */
function fromArgv(argv: Argv): {
  cwd?: string;
  hmmlabRoot?: string;
  paths: string[];
  json: boolean;
  dryRun: boolean;
  from?: string;
  to?: string;
  dir?: string;
  template?: string;
} {
  const { flags, positional } = parseArgv(argv, ['from', 'to', 'template']);
  const opt = <K extends string>(k: K, v: string | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, string>));
  return {
    paths: positional,
    json: flags.get('json') === true,
    dryRun: flags.get('dry-run') === true,
    ...opt('from', str(flags.get('from'))),
    ...opt('to', str(flags.get('to'))),
    ...opt('template', str(flags.get('template'))),
    ...opt('dir', positional[0]),
  };
}

/**
 * What lint and explain say when the files hold no notifier callback a driver registers: the
 * registration (`mmuIntervalNotifierInsert`, `mmuNotifierRegister`) may be in another file.
 */
const NO_CALLBACKS =
  'no notifier callback found: nothing was checked. The ops may be registered in another file of the driver (mmuIntervalNotifierInsert, mmuNotifierRegister): give its folder';

/**
 * `hmmlab lint <paths> [--json]`: exit 1 when a finding is an error. When the files register no
 * notifier callback and nothing is found, the output says that nothing was checked (`note` in
 * JSON); the exit code stays 0.
 */
export function lintCommand(opts: (CommonOptions & { readonly paths?: readonly string[]; readonly json?: boolean }) | Argv): CommandResult {
  const o = isArgv(opts) ? fromArgv(opts) : opts;
  const missing = needPaths('lint', o.paths, 'lint examples/dmirror');
  if (missing !== undefined) return missing;
  try {
    const { findings, callbacks, incomplete } = lint(o.paths ?? [], o.cwd === undefined ? {} : { cwd: o.cwd });
    const exitCode = findings.some((f) => f.severity === 'error') ? 1 : 0;
    // No finding because nothing was checked must not read as a pass, in either format.
    const unchecked = findings.length === 0 && callbacks === 0;
    if (o.json === true) {
      const doc = { findings, ...(unchecked ? { note: NO_CALLBACKS } : {}), ...(incomplete.length > 0 ? { incomplete } : {}) };
      return { exitCode, stdout: `${JSON.stringify(doc, null, 2)}\n` };
    }
    const errors = findings.filter((f) => f.severity === 'error').length;
    const lines = findings.map((f) => `${f.file}:${f.line}  ${f.severity}  ${f.rule}  ${f.message}`);
    lines.push(...incompleteNote(incomplete));
    lines.push(
      findings.length > 0 ? `${errors} error(s), ${findings.length - errors} warning(s)` : unchecked ? NO_CALLBACKS : 'no findings',
    );
    return { exitCode, stdout: `${lines.join('\n')}\n` };
  } catch (e) {
    return usage('lint', e);
  }
}

/** `hmmlab explain <paths> [--json]`: the decision table of each invalidate callback. */
export function explainCommand(
  opts: (CommonOptions & { readonly paths?: readonly string[]; readonly json?: boolean }) | Argv,
): CommandResult {
  const o = isArgv(opts) ? fromArgv(opts) : opts;
  const missing = needPaths('explain', o.paths, 'explain examples/dmirror/driver.ts');
  if (missing !== undefined) return missing;
  try {
    const r = explain(o.paths ?? [], o.cwd === undefined ? {} : { cwd: o.cwd });
    return { exitCode: 0, stdout: o.json === true ? `${JSON.stringify({ tables: r.tables }, null, 2)}\n` : r.text };
  } catch (e) {
    return usage('explain', e);
  }
}

/** `hmmlab codemod --from <profile> --to <profile> <paths> [--dry-run]`: the diff (dry run) or what changed. */
export function codemodCommand(
  opts:
    | (CommonOptions & { readonly from?: string; readonly to?: string; readonly paths?: readonly string[]; readonly dryRun?: boolean })
    | Argv,
): CommandResult {
  const o = isArgv(opts) ? fromArgv(opts) : opts;
  if (o.from === undefined || o.to === undefined) {
    return {
      exitCode: 2,
      stdout: 'hmmlab codemod: --from and --to are required; for example: hmmlab codemod --from 5.8 --to latest src/\n',
    };
  }
  const missing = needPaths('codemod', o.paths, `codemod --from ${o.from} --to ${o.to} src/`);
  if (missing !== undefined) return missing;
  try {
    const r = codemod({
      from: o.from,
      to: o.to,
      paths: o.paths ?? [],
      dryRun: o.dryRun === true,
      ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    });
    const notes = r.notes.map((n) => `note: ${n.file}:${n.line} ${n.message}`);
    if (o.dryRun === true) return { exitCode: 0, stdout: `${r.diff}${notes.map((n) => `${n}\n`).join('')}` };
    const lines = [...r.changes.map((c) => `${c.file}:${c.line} ${c.message}`), ...notes];
    lines.push(`${r.changed.length} file(s) changed (profile ${o.from} → ${o.to})`);
    return { exitCode: 0, stdout: `${lines.join('\n')}\n` };
  } catch (e) {
    return usage('codemod', e);
  }
}

/** `hmmlab init <dir> --template <name>`: scaffolds a driver package. */
export function initCommand(
  opts: { readonly dir?: string; readonly template?: string; readonly hmmlabRoot?: string } | Argv,
): CommandResult {
  const o = isArgv(opts) ? fromArgv(opts) : opts;
  if (o.dir === undefined || o.dir === '' || o.template === undefined) {
    return {
      exitCode: 2,
      stdout: `hmmlab init: a folder and --template are required; for example: hmmlab init my-driver --template ${TEMPLATE_NAMES.join('|')}\n`,
    };
  }
  try {
    const r = init(o.dir, { template: o.template, ...(o.hmmlabRoot === undefined ? {} : { hmmlabRoot: o.hmmlabRoot }) });
    return {
      exitCode: 0,
      stdout: `created ${r.dir} from template ${r.template}: ${r.files.join(', ')}\nnext: cd ${o.dir} && npm install && npm test\n`,
    };
  } catch (e) {
    return usage('init', e);
  }
}
