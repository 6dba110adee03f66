import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AnalyzeError } from '../errors.js';
import { tempDir } from '../testing/temp.js';
import { codemod } from './codemod.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
const dirs: { dispose(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.dispose();
});

/** A temporary copy of a fixture. */
function copy(name: string): string {
  const d = tempDir('codemod');
  dirs.push(d);
  const p = join(d.path, `${name}.ts`);
  copyFileSync(fixture(name), p);
  return p;
}

function source(name: string, text: string): string {
  const d = tempDir('codemod');
  dirs.push(d);
  const p = join(d.path, `${name}.ts`);
  writeFileSync(p, text);
  return p;
}

describe('codemod', () => {
  it.each<[string, string, string, RegExp[], RegExp[]]>([
    [
      'legacy-5.8',
      '5.8',
      'latest',
      [
        /end, flags: MIGRATE_VMA_SELECT_SYSTEM \}\);/,
        /pgmapOwner: dev\.owner,\n {4}flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,/,
        /= migratePfn\(page\.pfn\);/,
        /profiles: \['latest'\]/,
      ],
      [/srcOwner:/, /\| MIGRATE_PFN_LOCKED/, /import \{ MIGRATE_PFN_LOCKED/],
    ],
    ['seed-owner', 'seed', '5.9', [/range\.migratePgmapOwner === owner/, /range\.migratePgmapOwner === null/], [/range\.data ===/]],
    ['seed-owner', 'seed', '5.14', [/range\.owner === owner/, /range\.owner === null/], [/range\.data ===/]],
    [
      'exclusive-6.1',
      '6.1',
      'latest',
      [
        /await makeDeviceExclusiveRangeViaSingle\(mm, start/,
        /async function makeDeviceExclusiveRangeViaSingle\(/,
        /import \{ type Mm, makeDeviceExclusive, type Page \}/,
      ],
      [/\bmakeDeviceExclusiveRange\(/],
    ],
  ])('should rewrite %s from %s to %s, and back to the same text', (name, from, to, present, absent) => {
    const p = copy(name);
    const original = readFileSync(p, 'utf8');
    const r = codemod({ from, to, paths: [p] });
    const after = readFileSync(p, 'utf8');
    expect(r.changed).toHaveLength(1);
    for (const re of present) expect(after).toMatch(re);
    for (const re of absent) expect(after).not.toMatch(re);
    codemod({ from: to, to: from, paths: [p] });
    expect(readFileSync(p, 'utf8')).toBe(original);
  });

  it('should keep the owner of a system migration in a comment on the way back to srcOwner, and restore it', () => {
    const text =
      "import { MIGRATE_VMA_SELECT_SYSTEM, MigrateVma } from '@hmmlab/core';\n\nexport function f(owner: unknown) {\n  const a = new MigrateVma({ start: 0, pgmapOwner: owner, flags: MIGRATE_VMA_SELECT_SYSTEM });\n  return a;\n}\n";
    const p = source('system', text);
    codemod({ from: 'latest', to: '5.8', paths: [p] });
    const old = readFileSync(p, 'utf8');
    expect(old).toContain('  // hmmlab-codemod: pgmapOwner: owner\n  const a = new MigrateVma({ start: 0 });');
    expect(old).toMatch(/^import \{ MigrateVma \} from '@hmmlab\/core';/);
    codemod({ from: '5.8', to: 'latest', paths: [p] });
    expect(readFileSync(p, 'utf8')).toBe(text);
  });

  it('should return a unified diff and write nothing in a dry run', () => {
    const p = copy('seed-owner');
    const before = readFileSync(p, 'utf8');
    const r = codemod({ from: 'seed', to: 'latest', paths: [p], dryRun: true });
    expect(readFileSync(p, 'utf8')).toBe(before);
    expect(r.diff).toMatch(/^--- a\/.*seed-owner\.ts\n\+\+\+ b\/.*seed-owner\.ts\n@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    expect(r.diff).toContain(
      '-  return range.event === MMU_NOTIFY_MIGRATE && range.data === owner;\n+  return range.event === MMU_NOTIFY_MIGRATE && range.owner === owner;\n',
    );
    expect(r.changes.map((c) => c.line)).toEqual([6, 12]);
  });

  it('should leave code alone that tests the profile, and say so', () => {
    const text =
      "import type { MmuNotifierRange } from '@hmmlab/core';\n\nexport function owner(range: MmuNotifierRange, era: { ownerField: string }): unknown {\n  return era.ownerField === 'owner' ? range.owner : range.migratePgmapOwner;\n}\n";
    const p = source('multi', text);
    const r = codemod({ from: '5.9', to: 'latest', paths: [p] });
    expect(readFileSync(p, 'utf8')).toBe(text);
    expect(r.notes[0]?.message).toMatch(/code for several profiles/);
  });

  it('should note what profile 5.8 cannot express instead of rewriting it', () => {
    const p = copy('exclusive-6.1');
    const r = codemod({ from: '6.1', to: '5.8', paths: [p], dryRun: true });
    expect(r.notes.map((n) => n.message)).toEqual([expect.stringMatching(/profile 5\.8 has no device-exclusive API \(v5\.14\)/)]);
  });

  it.each([
    [
      { from: '5.7', to: 'latest' },
      /codemod: unknown source \(--from\) profile "5\.7"; expected one of 5\.8, seed, 5\.9, 5\.14, 6\.1, latest/,
    ],
    [{ from: '5.8', to: '7.0' }, /codemod: unknown target \(--to\) profile "7\.0"/],
  ])('should reject an unknown profile (%o)', (o, message) => {
    expect(() => codemod({ ...o, paths: [fixture('seed-owner')] })).toThrow(message);
    expect(() => codemod({ ...o, paths: [fixture('seed-owner')] })).toThrow(AnalyzeError);
  });
});
