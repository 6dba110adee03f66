/**
 * `hmmlab init --template`: a module without ts-morph (the template is copied, not parsed), so
 * that the command starts without the TypeScript checker.
 */
import { type Argv, fromArgv, isArgv } from './argv.js';
import { type CommandResult, usage } from './command-result.js';
import { init, TEMPLATE_NAMES } from './init/init.js';

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
