/**
 * `hmmlab lint | explain | init --from` on kernel C: what the command line calls when the paths
 * name `.c`/`.h` files or folders of C sources. Same output as for TypeScript; usage errors exit
 * 2 with one line.
 */
import { type CommandResult, incompleteNote, needPaths, usage } from '../internal/command-result.js';
import { formatTables } from '../internal/tables.js';
import { initFromC } from './init-c.js';
import { explainC, lintC } from './lint-c.js';

/** Options of the C commands. */
interface COptions {
  readonly paths?: readonly string[];
  readonly json?: boolean;
  readonly cwd?: string;
}

/** `hmmlab lint <file.c|dir> [--json]`: exit 1 when a finding is an error. */
export async function lintCCommand(o: COptions): Promise<CommandResult> {
  const missing = needPaths('lint', o.paths, 'lint drivers/gpu/drm/nouveau/nouveau_svm.c');
  if (missing !== undefined) return missing;
  try {
    const started = performance.now();
    const r = await lintC(o.paths ?? [], o.cwd === undefined ? {} : { cwd: o.cwd });
    const seconds = (performance.now() - started) / 1000;
    const { findings } = r;
    const exitCode = findings.some((f) => f.severity === 'error') ? 1 : 0;
    if (o.json === true)
      return {
        exitCode,
        stdout: `${JSON.stringify({ findings, stats: r.stats, unresolved: r.unresolved, incomplete: r.incomplete }, null, 2)}\n`,
      };
    const errors = findings.filter((f) => f.severity === 'error').length;
    const lines = findings.map((f) => `${f.file}:${f.line}  ${f.severity}  ${f.rule}  ${f.message}`);
    for (const u of r.unresolved) lines.push(`note: ops callback ${u} is not defined in the files linted`);
    lines.push(...incompleteNote(r.incomplete));
    lines.push(findings.length === 0 ? 'no findings' : `${errors} error(s), ${findings.length - errors} warning(s)`);
    lines.push(
      `${r.stats.files} C file(s) read, ${r.stats.parsed} using the notifier API parsed, ${r.stats.callbacks} callback(s) and ` +
        `${r.stats.faultPaths} fault path(s) checked in ${seconds.toFixed(1)} s`,
    );
    return { exitCode, stdout: `${lines.join('\n')}\n` };
  } catch (e) {
    return usage('lint', e);
  }
}

/** `hmmlab explain <file.c> [--json]`: the decision table of each invalidate callback. */
export async function explainCCommand(o: COptions): Promise<CommandResult> {
  const missing = needPaths('explain', o.paths, 'explain lib/test_hmm.c');
  if (missing !== undefined) return missing;
  try {
    const r = await explainC(o.paths ?? [], formatTables, o.cwd === undefined ? {} : { cwd: o.cwd });
    return { exitCode: 0, stdout: o.json === true ? `${JSON.stringify({ tables: r.tables }, null, 2)}\n` : r.text };
  } catch (e) {
    return usage('explain', e);
  }
}

/** `hmmlab init <dir> --from <file.c>`: a TypeScript driver skeleton mirroring the C callbacks. */
export async function initFromCCommand(o: { readonly dir?: string; readonly from?: string }): Promise<CommandResult> {
  if (o.dir === undefined || o.dir === '' || o.from === undefined) {
    return {
      exitCode: 2,
      stdout: 'hmmlab init: a folder and --from are required; for example: hmmlab init my-driver --from lib/test_hmm.c\n',
    };
  }
  try {
    const r = await initFromC(o.dir, o.from);
    return {
      exitCode: 0,
      stdout: `created ${r.file} from ${o.from}: ${r.callbacks} callback(s), ${r.todos} TODO(s) for device operations\n`,
    };
  } catch (e) {
    return usage('init', e);
  }
}
