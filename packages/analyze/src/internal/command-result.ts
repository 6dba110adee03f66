/**
 * What the static commands return, and the lines and usage errors they share: a module without
 * ts-morph, so that the C commands load none of it.
 */
import { profileApi } from './codemod/profiles.js';
import { AnalyzeError } from './errors.js';
import { expandPaths } from './files.js';
import type { Incomplete } from './lint.js';

/** What a command returns. */
export interface CommandResult {
  /** 0 success, 1 findings with an error (lint), 2 bad usage. */
  readonly exitCode: number;
  /** What the command prints on standard output. */
  readonly stdout: string;
}

/**
 * The lines that list the functions lint did not follow to the end of every path: a finding may
 * hide in the paths past the budget, so their silence is not a pass.
 */
export function incompleteNote(incomplete: readonly Incomplete[]): string[] {
  if (incomplete.length === 0) return [];
  return [
    `note: ${incomplete.length} function(s) have more paths than lint follows; the paths past the budget were not checked:`,
    ...incomplete.map((x) => `  ${x.file}:${x.line}  ${x.name}`),
  ];
}

export function usage(command: string, e: unknown): CommandResult {
  if (e instanceof AnalyzeError) {
    const msg = e.message.startsWith(`${command}:`) ? e.message : `${command}: ${e.message}`;
    return { exitCode: 2, stdout: `hmmlab ${msg}\n` };
  }
  throw e;
}

export function needPaths(command: string, paths: readonly string[] | undefined, example: string): CommandResult | undefined {
  if (paths !== undefined && paths.length > 0) return undefined;
  return { exitCode: 2, stdout: `hmmlab ${command}: no paths given; for example: hmmlab ${example}\n` };
}

/**
 * The usage error of `hmmlab <command>` (lint, explain, codemod) whose `paths` name no TypeScript
 * driver source (a path that does not exist, a folder without sources, a file that is none), or
 * of codemod whose `profiles` (`--from`, `--to`) name none, as the command itself reports it and
 * in its order; undefined when they are good. A module without ts-morph: the command line checks
 * its arguments before it loads the TypeScript checker.
 */
export function driverPathsUsage(
  command: string,
  paths: readonly string[],
  profiles?: { readonly from: string; readonly to: string },
): CommandResult | undefined {
  try {
    if (profiles !== undefined) {
      profileApi(command, 'source (--from)', profiles.from);
      profileApi(command, 'target (--to)', profiles.to);
    }
    expandPaths(command, paths);
    return undefined;
  } catch (e) {
    return usage(command, e);
  }
}
