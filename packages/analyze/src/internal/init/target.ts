/**
 * The folder `hmmlab init` writes into: checked before anything is written, so that a path that
 * cannot be a new driver package fails in one line (exit 2) rather than inside `readdir` or
 * `mkdir`.
 */
import { accessSync, constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AnalyzeError } from '../errors.js';

function problem(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A folder {@link checkTarget} found fit to write a driver package into. */
export interface Target {
  /** Its absolute path. */
  readonly abs: string;
  /** Creates it if it is missing. @throws AnalyzeError `ERR_USAGE` when it cannot be created */
  readonly create: () => void;
}

/**
 * Checks that `dir` can become a driver package: it is an empty folder, or it is missing and the
 * nearest folder above it that exists is writable. Creates nothing until `create` (one level at a
 * time: `mkdirSync(…, { recursive: true })` does not return on some paths under /proc).
 * @throws AnalyzeError `ERR_TARGET_EXISTS` when `dir` is a file or a folder that is not empty,
 * `ERR_USAGE` when it cannot be created
 */
export function checkTarget(dir: string): Target {
  const abs = resolve(dir);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new AnalyzeError('ERR_USAGE', `init: ${dir}: cannot create it (${problem(e)})`);
      missing.unshift(at);
      const up = dirname(at);
      if (up === at) throw new AnalyzeError('ERR_USAGE', `init: ${dir}: cannot create it (no such folder ${at})`);
      at = up;
      continue;
    }
    if (!isDir) {
      throw at === abs
        ? new AnalyzeError('ERR_TARGET_EXISTS', `init: ${dir} exists and is a file; name a new folder`)
        : new AnalyzeError('ERR_USAGE', `init: ${dir}: cannot create it (${at} is not a folder)`);
    }
    break;
  }
  if (missing.length === 0 && readdirSync(abs).length > 0) {
    throw new AnalyzeError('ERR_TARGET_EXISTS', `init: ${dir} exists and is not empty; name a new folder`);
  }
  const cannot = (e: unknown): AnalyzeError => new AnalyzeError('ERR_USAGE', `init: ${dir}: cannot create it (${problem(e)})`);
  try {
    accessSync(at, constants.W_OK);
  } catch (e) {
    throw cannot(e);
  }
  return {
    abs,
    create: () => {
      try {
        for (const d of missing) mkdirSync(d);
      } catch (e) {
        throw cannot(e);
      }
    },
  };
}
