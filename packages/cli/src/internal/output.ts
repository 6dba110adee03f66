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
 * Makes sure `file` can be written: its folder exists (created if missing) and is writable, and
 * `file` itself is not a folder. Throws a {@link UsageError} naming `flag` otherwise.
 */
export function prepareOutput(flag: string, file: string): void {
  const path = resolve(file);
  const missing: string[] = [];
  let dir = dirname(path);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${flag} ${file}: cannot write it (${problem(e)})`);
      const up = dirname(dir);
      if (up === dir) throw new UsageError(`${flag} ${file}: cannot write it (no such folder ${dir})`);
      missing.unshift(dir);
      dir = up;
      continue;
    }
    if (!isDir) throw new UsageError(`${flag} ${file}: cannot write it (${dir} is not a folder)`);
    break;
  }
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
