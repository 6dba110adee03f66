import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DriverTarget, findDrivers, type Judged, summaryLine } from './drivers.js';
import { UsageError } from './usage.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A folder holding a driver.ts and, when given, an expected.json. */
function caseDir(expected?: unknown): string {
  const root = mkdtempSync(join(tmpdir(), 'hmmlab-drivers-'));
  dirs.push(root);
  const d = join(root, 'case');
  mkdirSync(d);
  writeFileSync(join(d, 'driver.ts'), 'export default {};\n');
  if (expected !== undefined) writeFileSync(join(d, 'expected.json'), JSON.stringify(expected));
  return d;
}

const whatIf = { fuzz: { shape: { profileOverrides: { exclusiveRestoreOwner: 'caller' } } } };

describe('expected.json kinds', () => {
  it('should read a case without overrides as a driver bug and one with overrides as a kernel what-if', () => {
    expect(findDrivers([caseDir({ rules: ['missed-flush'] })])[0]?.expected?.kind).toBe('driver-bug');
    expect(findDrivers([caseDir({ rules: ['missed-flush'], ...whatIf })])[0]?.expected?.kind).toBe('kernel-what-if');
    expect(findDrivers([caseDir()])[0]?.expected).toBeNull();
  });

  it('should refuse a driver bug that needs a changed kernel, a what-if without one, and an unknown kind', () => {
    expect(() => findDrivers([caseDir({ kind: 'driver-bug', rules: ['missed-flush'], ...whatIf })])).toThrow(/kernel-what-if/);
    expect(() => findDrivers([caseDir({ kind: 'kernel-what-if', rules: ['missed-flush'] })])).toThrow(/profileOverrides/);
    expect(() => findDrivers([caseDir({ kind: 'bug', rules: ['missed-flush'] })])).toThrow(UsageError);
  });
});

describe('summaryLine', () => {
  const target = (kind: 'driver-bug' | 'kernel-what-if' | null): DriverTarget => ({
    file: 'driver.ts',
    label: 'driver.ts',
    expected: kind === null ? null : { kind, rules: ['missed-flush'] },
  });
  const j = (kind: 'driver-bug' | 'kernel-what-if' | null, status: Judged['status']): Judged => ({ target: target(kind), status });

  it('should count driver bugs, kernel what-ifs and correct drivers apart', () => {
    const line = summaryLine([
      j('driver-bug', 'caught'),
      j('driver-bug', 'missed'),
      j('driver-bug', 'wrong-rule'),
      j('kernel-what-if', 'caught'),
      j(null, 'pass'),
      j(null, 'fail'),
    ]);
    expect(line).toBe('1 of 3 driver bugs caught, 1 of 1 kernel what-ifs caught, 1 of 2 correct drivers pass');
  });

  it('should leave out a group with no driver', () => {
    expect(summaryLine([j(null, 'pass'), j(null, 'pass')])).toBe('2 of 2 correct drivers pass');
  });
});
