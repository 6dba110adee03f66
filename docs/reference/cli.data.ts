/**
 * Build-time data of the command-line reference: the `--help` text of hmmlab and of each of its
 * commands, taken from the CLI itself when the site is built, so every command and option is
 * listed as it is.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { defineLoader, type SiteConfig } from 'vitepress';

/** One command and its help. */
export interface CommandHelp {
  readonly name: string;
  readonly help: string;
}

/** The loader's data. */
export interface CliData {
  readonly help: string;
  readonly commands: readonly CommandHelp[];
}

declare const data: CliData;

export { data };

const run = promisify(execFile);

export default defineLoader({
  async load(): Promise<CliData> {
    const config = (globalThis as { VITEPRESS_CONFIG?: SiteConfig }).VITEPRESS_CONFIG;
    const root = resolve(config?.srcDir ?? resolve('docs'), '..');
    const bin = resolve(root, 'packages/cli/bin/hmmlab.js');
    const helpOf = async (args: string[]): Promise<string> => {
      // From source, so that the site builds in a checkout that was never built.
      const env = { ...process.env, COLUMNS: '100', NODE_OPTIONS: '--conditions=@hmmlab/source' };
      const r = await run(process.execPath, [bin, ...args, '--help'], { cwd: root, env });
      return r.stdout.trimEnd();
    };
    const help = await helpOf([]);
    const section = help.slice(help.indexOf('Commands:'));
    const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1] as string).filter((n) => n !== 'help');
    const commands = await Promise.all(names.map(async (name) => ({ name, help: await helpOf([name]) })));
    return { help, commands };
  },
});
