/**
 * Acceptance of the codemods on the example drivers: a copy of examples/ goes 5.8 → latest → 5.8
 * (and latest → 5.8 → latest); each example must come back as it was or still type-check.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples, REPO, snapshot, tempDir, typeErrors } from '../testing/temp.js';
import { codemod } from './codemod.js';

const EXAMPLES = join(REPO, 'examples');
const drivers = existsSync(EXAMPLES)
  ? readdirSync(EXAMPLES)
      .filter((d) => existsSync(join(EXAMPLES, d, 'driver.ts')))
      .sort()
  : [];

describe('codemod round trips on examples/', () => {
  const tmp = tempDir('roundtrip');
  let examples = '';
  beforeAll(() => {
    examples = copyExamples(tmp.path);
  });
  afterAll(() => tmp.dispose());

  it('should find the example drivers', () => {
    expect(drivers).toEqual([
      'amdkfd-style',
      'amdkfd-style-xnack-off',
      'dmirror',
      'dmirror-fixed',
      'mlx5-odp-style',
      'nouveau-style',
      'xe-style',
    ]);
  });

  it.each(drivers)('should bring %s back from latest → 5.8 → latest unchanged', (name) => {
    const dir = join(examples, name);
    const before = snapshot(dir);
    codemod({ from: 'latest', to: '5.8', paths: [dir] });
    codemod({ from: '5.8', to: 'latest', paths: [dir] });
    expect(snapshot(dir)).toEqual(before);
  });

  it.each(drivers)('should keep %s type-checking through 5.8 → latest → 5.8', (name) => {
    const dir = join(examples, name);
    const before = snapshot(dir);
    codemod({ from: '5.8', to: 'latest', paths: [dir] });
    codemod({ from: 'latest', to: '5.8', paths: [dir] });
    const after = snapshot(dir);
    // Unchanged code passes its own tests as it did; changed code must at least type-check (no
    // error the original, as it is in the repository now, does not have).
    if (JSON.stringify([...after]) !== JSON.stringify([...before])) {
      const strip = (root: string) => (e: string) => e.replace(`${root}/`, '').replace(/:\d+ /, ' ');
      const baseline = new Set(typeErrors(join(EXAMPLES, name)).map(strip(join(EXAMPLES, name))));
      expect(
        typeErrors(dir)
          .map(strip(dir))
          .filter((e) => !baseline.has(e)),
      ).toEqual([]);
    }
    expect([...after.keys()]).toEqual([...before.keys()]);
  });
});

describe('typeErrors', () => {
  it('should report a type error of a file, and none once it is fixed', () => {
    const tmp = tempDir('typecheck');
    try {
      const file = join(tmp.path, 'x.ts');
      writeFileSync(file, '// a type error\nexport const x: string = 6;\n');
      expect(typeErrors(tmp.path)).toEqual([expect.stringMatching(/x\.ts:2 .*not assignable to type 'string'/)]);
      writeFileSync(file, 'export const x: string = String(6);\n');
      expect(typeErrors(tmp.path)).toEqual([]);
    } finally {
      tmp.dispose();
    }
  });
});
