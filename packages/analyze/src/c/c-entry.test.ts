/**
 * `@hmmlab/analyze/c`, the entry point of the commands on kernel C, loads none of the TypeScript
 * checker: a command on C starts without ts-morph and the TypeScript compiler. The package's main
 * entry point, which has the TypeScript commands, loads them (the same check, seeing them).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('../..', import.meta.url));

/** The CommonJS modules (ts-morph and TypeScript are) that importing `entry` loads, in a fresh process. */
function commonJsLoaded(entry: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const c = await import(${JSON.stringify(entry)});
    if (Object.keys(c).length === 0) throw new Error('nothing exported');
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const r = spawnSync(process.execPath, ['--conditions=@hmmlab/source', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: pkg,
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as string[];
}

const checker = (files: readonly string[]): string[] => files.filter((f) => /\/(ts-morph|@ts-morph|typescript)\//.test(f));

describe('the entry points of @hmmlab/analyze', () => {
  it('should load neither ts-morph nor TypeScript for the C commands', () => {
    expect(checker(commonJsLoaded('@hmmlab/analyze/c'))).toEqual([]);
  });

  it('should load them for the TypeScript commands', () => {
    expect(checker(commonJsLoaded('@hmmlab/analyze')).length).toBeGreaterThan(0);
  });
});
