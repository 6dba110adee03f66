/**
 * What a remembered result was made from: each file or folder read, with its size and
 * modification time (the type check's record, typecheck.ts; the compiled driver modules,
 * precompile.ts). While none of them changes, the result holds.
 */
import { statSync } from 'node:fs';

/** A file or folder, its size and its modification time; a size of -1 for a file that must not exist. */
export type Stamp = readonly [path: string, size: number, mtimeMs: number];

/** The stamp of a file that does not exist and must not, for the result to hold. */
export function absent(path: string): Stamp {
  return [path, -1, -1];
}

/** The stamp of `path` now; null when it does not exist. */
export function stamp(path: string): Stamp | null {
  try {
    const st = statSync(path);
    return [path, st.size, st.mtimeMs];
  } catch {
    return null;
  }
}

/** Whether every file and folder of `stamps` is as it was. */
export function unchanged(stamps: readonly Stamp[]): boolean {
  return stamps.every(([path, size, mtimeMs]) => {
    const now = stamp(path);
    return size === -1 ? now === null : now !== null && now[1] === size && now[2] === mtimeMs;
  });
}
