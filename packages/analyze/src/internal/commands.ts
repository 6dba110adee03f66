/**
 * Entry points for the command line (`hmmlab lint | explain | codemod | init`): each takes the
 * options a CLI framework parsed and returns the exit code and what to print. Usage errors (a
 * missing file, an unknown profile or template) exit 2 with one line saying what to do.
 */

import { type Argv, type CommonOptions, fromArgv, isArgv } from './argv.js';
import { codemod } from './codemod/codemod.js';
import { type CommandResult, incompleteNote, needPaths, usage } from './command-result.js';
import { explain } from './explain.js';
import { lint } from './lint.js';

export type { Argv } from './argv.js';
export { initCommand } from './init-command.js';

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
