/**
 * Output files (`--html <file>`): checked before any campaign or replay starts, so that a bad path
 * fails in one line at once instead of after the work. Missing folders are created one level at a
 * time: `mkdirSync(…, { recursive: true })` does not return on some paths under /proc.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './usage.js';

function problem(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The nearest folder of `dir` or above it that exists, and the missing ones below it (outermost
 * first). Throws a {@link UsageError} naming `flag` and `what` when a path on the way is no folder.
 */
function existingFolder(flag: string, what: string, dir: string): { dir: string; missing: string[] } {
  const missing: string[] = [];
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (e) {
      // ENOTDIR: a file on the way, which the walk up then names.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`${flag} ${what}: cannot write it (${problem(e)})`);
      const up = dirname(dir);
      if (up === dir) throw new UsageError(`${flag} ${what}: cannot write it (no such folder ${dir})`);
      missing.unshift(dir);
      dir = up;
      continue;
    }
    if (!isDir) throw new UsageError(`${flag} ${what}: cannot write it (${dir} is not a folder)`);
    return { dir, missing };
  }
}

/**
 * Makes sure `file` can be written: its folder exists (created if missing) and is writable, and
 * `file` itself is not a folder. Throws a {@link UsageError} naming `flag` otherwise.
 */
export function prepareOutput(flag: string, file: string): void {
  const path = resolve(file);
  const { dir, missing } = existingFolder(flag, file, dirname(path));
  try {
    accessSync(dir, constants.W_OK);
    for (const d of missing) mkdirSync(d);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: cannot write it (${problem(e)})`);
  }
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`${flag} ${file}: cannot write it (it is a folder)`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
}

/**
 * Makes sure files can be written into the folder `dir` later: it is a writable folder, or it is
 * created now, one level at a time (files written below it later may then create their own
 * folders with `recursive: true`, which does not return on some paths under /proc). Throws a
 * {@link UsageError} naming `flag` otherwise; `hint` is added to its message.
 */
export function prepareFolder(flag: string, dir: string, hint = ''): void {
  try {
    const { dir: at, missing } = existingFolder(flag, dir, resolve(dir));
    accessSync(at, constants.W_OK);
    for (const d of missing) mkdirSync(d);
  } catch (e) {
    throw new UsageError(`${e instanceof UsageError ? e.message : `${flag} ${dir}: cannot write it (${problem(e)})`}${hint}`);
  }
}
