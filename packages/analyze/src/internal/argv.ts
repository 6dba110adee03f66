/**
 * The options of the static commands from command-line words (`--json`, `--dry-run`, `--from`,
 * `--to`, `--template`, paths), as an alternative to options a CLI framework parsed: a module
 * without ts-morph, shared by the commands that load it and those that do not.
 */

/** Shared options: paths in output are relative to `cwd`. */
export interface CommonOptions {
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

export function isArgv(o: unknown): o is Argv {
  return Array.isArray(o);
}

/** Options of every command from argv words (`--json`, `--dry-run`, `--from`, `--to`, `--template`, paths). */
export function fromArgv(argv: Argv): {
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
