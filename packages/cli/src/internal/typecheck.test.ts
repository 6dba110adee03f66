/**
 * The type check of driver modules, and the record of a check that passed: a file changed since
 * (even to the same size) is checked again, so a remembered pass never hides a new error.
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { typecheck } from './typecheck.js';

const dir = mkdtempSync(join(tmpdir(), 'hmmlab-typecheck-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('typecheck', () => {
  it('should pass a module that checks, and report the error once it changes to one that does not, at the same size', () => {
    const file = join(dir, 'driver.ts');
    writeFileSync(file, 'export const pages: number = 1;\n');
    expect(typecheck([file])).toEqual([]);
    expect(typecheck([file])).toEqual([]);
    writeFileSync(file, 'export const pages: string = 1;\n');
    // The same size; a later modification time even on a coarse clock.
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
    const errors = typecheck([file]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/driver\.ts:1:14: Type 'number' is not assignable to type 'string'/);
  });

  it('should check a module that uses Node.js APIs against the Node.js typings', () => {
    const file = join(dir, 'node.ts');
    writeFileSync(file, "import { cpus } from 'node:os';\nexport const cores: number = cpus().length;\n");
    expect(typecheck([file])).toEqual([]);
    const bad = join(dir, 'node-bad.ts');
    writeFileSync(bad, "import { cpus } from 'node:os';\nexport const cores: string = cpus().length;\n");
    expect(typecheck([bad])[0]).toMatch(/node-bad\.ts:2:14: Type 'number' is not assignable to type 'string'/);
  });

  it('should not check JavaScript modules', () => {
    const file = join(dir, 'driver.js');
    writeFileSync(file, 'export const pages = 1;\n');
    expect(typecheck([file])).toEqual([]);
  });
});
