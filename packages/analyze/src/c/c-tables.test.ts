/**
 * The decision of nouveau's classic callback (`nouveau_mn_ops.invalidate_range_start`) and of the
 * nouveau-style template's (`NouveauSvmm.invalidateRangeStart`), as docs/findings/c-lint-6.1.md
 * compares them: every non-blockable range refused with -EAGAIN and nothing cleared, the own
 * MIGRATE skipped, every other blockable range cleared or left alone, always 0. The template's half
 * always runs; the C half needs HMMLAB_LINUX_SRC (see c-real.test.ts) and is skipped without it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { explain } from '../internal/explain.js';
import { type DecisionTable, formatTables } from '../internal/tables.js';
import { explainC } from './lint-c.js';

const SRC = process.env.HMMLAB_LINUX_SRC;
const present = SRC !== undefined && existsSync(join(SRC, 'drivers', 'gpu', 'drm', 'nouveau', 'nouveau_svm.c'));
const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

/** Outcomes (`returns/clears`) of the rows of a classic start callback, by the kind of range. */
function decision(t: DecisionTable | undefined): Record<'nonblockable' | 'ownMigrate' | 'other', string[]> {
  const out = { nonblockable: new Set<string>(), ownMigrate: new Set<string>(), other: new Set<string>() };
  for (const r of t?.rows ?? []) {
    const returns = r.returns === '-EAGAIN' ? '-11' : r.returns;
    const kind = r.blockable === 'no' ? 'nonblockable' : r.event === 'MMU_NOTIFY_MIGRATE' && r.owner === 'own' ? 'ownMigrate' : 'other';
    out[kind].add(`${returns}/${r.flushes.length > 0 ? 'clears' : 'nothing'}`);
  }
  return { nonblockable: [...out.nonblockable].sort(), ownMigrate: [...out.ownMigrate].sort(), other: [...out.other].sort() };
}

const EXPECTED = { nonblockable: ['-11/nothing'], ownMigrate: ['0/nothing'], other: ['0/clears', '0/nothing'] };

describe("the classic callback's decision, nouveau 6.1 and the template", () => {
  it('should refuse every non-blockable range in the template, skip its own MIGRATE and clear the rest', () => {
    const t = explain(join(ROOT, 'examples/nouveau-style/svmm.ts')).tables.find((x) => x.kind === 'start');
    expect(t?.callback).toBe('NouveauSvmm.invalidateRangeStart');
    expect(decision(t)).toEqual(EXPECTED);
  });

  it.skipIf(!present)('should find the same decision in nouveau_svm.c', async () => {
    const r = await explainC([join(SRC as string, 'drivers/gpu/drm/nouveau/nouveau_svm.c')], formatTables, { cwd: SRC as string });
    const t = r.tables.find((x) => x.kind === 'start');
    expect(t?.callback).toBe('nouveau_mn_ops.invalidate_range_start');
    expect(decision(t)).toEqual(EXPECTED);
  });
});
