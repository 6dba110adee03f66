/**
 * The correct examples and their campaign groups (`correct-drivers.ts`): every correct example is
 * in exactly one group, so none goes without its campaign.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { correctDrivers, GROUPS } from './correct-drivers.js';

describe('correct examples', () => {
  it('should find the correct examples', () => {
    expect(correctDrivers()).toEqual([
      'amdkfd-style',
      'amdkfd-style-xnack-off',
      'buggy/controls/n1-own-migrate-revoked',
      'buggy/controls/n2-own-exclusive-skip',
      'buggy/controls/n3-nothing-mapped',
      'buggy/controls/n4-not-present-under-lock',
      'buggy/controls/n5-release-notifier',
      'buggy/controls/n6-downgrade-own-migrate',
      'buggy/controls/n7-quiesce-restore',
      'buggy/controls/n8-inline-under-block-lock',
      'buggy/controls/n9-retry-under-both-locks',
      'dmirror-fixed',
      'mlx5-odp-style',
      'nouveau-style',
      'xe-style',
    ]);
  });

  it('should put every correct example in exactly one campaign group', () => {
    expect(Object.values(GROUPS).flat().sort()).toEqual(correctDrivers());
  });

  it('should run every campaign group from its own test file', () => {
    const here = readdirSync(fileURLToPath(new URL('.', import.meta.url)));
    const files = here.filter((f) => /^correct-.+\.test\.ts$/.test(f) && f !== 'correct-drivers.test.ts');
    expect(files.sort()).toEqual(
      Object.keys(GROUPS)
        .map((g) => `correct-${g}.test.ts`)
        .sort(),
    );
    for (const g of Object.keys(GROUPS)) {
      expect(readFileText(`correct-${g}.test.ts`)).toContain(`campaigns('${g}')`);
    }
  });
});

function readFileText(name: string): string {
  return readFileSync(new URL(name, import.meta.url), 'utf8');
}
