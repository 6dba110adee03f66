import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AnalyzeError } from '../internal/errors.js';
import { explain } from '../internal/explain.js';
import { lint } from '../internal/lint.js';
import { formatTables } from '../internal/tables.js';
import { REPO, tempDir, typeErrors } from '../internal/testing/temp.js';
import { initFromC } from './init-c.js';
import { explainC } from './lint-c.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.c`, import.meta.url));

/** A folder whose skeleton resolves `@hmmlab/*` as a driver in examples/ does. */
function skeletonDir() {
  const d = tempDir('init-from-c');
  symlinkSync(join(REPO, 'examples', 'node_modules'), join(d.path, 'node_modules'));
  return d;
}

/** The kernel's decisions of each row: what a skeleton must mirror. */
const decisions = (t: { rows: readonly { event: string; owner: string; blockable: string; setSeq: boolean; returns: string }[] }) =>
  t.rows.map((r) => `${r.event} | ${r.owner} | ${r.blockable} | set_seq ${r.setSeq} | ${r.returns}`).sort();

describe('init --from a C driver', () => {
  it.each(['lock-leak.good', 'correct-kernel-c', 'init-statements', 'init-two-locks'])(
    'should write a skeleton for %s that type-checks',
    async (name) => {
      const d = skeletonDir();
      try {
        const r = await initFromC(join(d.path, 'drv'), fixture(name));
        expect(r.callbacks).toBeGreaterThan(0);
        expect(readFileSync(r.file, 'utf8')).toMatch(/TODO/);
        expect(typeErrors(d.path)).toEqual([]);
      } finally {
        d.dispose();
      }
    },
  );

  it.each(['owner-without-event.good', 'lock-leak.good', 'skip-before-set-seq.good', 'init-statements'])(
    'should mirror the decision table of %s: the skeleton explains as the C does',
    async (name) => {
      const d = skeletonDir();
      try {
        const r = await initFromC(join(d.path, 'drv'), fixture(name));
        const c = (await explainC([fixture(name)], formatTables)).tables;
        const ts = explain(r.file).tables;
        expect(ts).toHaveLength(1);
        expect(decisions(ts[0] as (typeof ts)[0])).toEqual(decisions(c[0] as (typeof c)[0]));
      } finally {
        d.dispose();
      }
    },
  );

  it('should write the call of an assignment or a cast to void as the call, and leave log messages as comments', async () => {
    const d = tempDir('init-from-c');
    try {
      const r = await initFromC(join(d.path, 'drv'), fixture('init-statements'));
      const ts = readFileSync(r.file, 'utf8');
      for (const call of [
        'fx_bo_reserve(fx->bo, true)',
        'dma_resv_wait_timeout(fx->resv',
        'fx_bo_move_to_cpu(fx->bo)',
        'fx_bo_validate(fx->bo)',
        'fx_bo_unreserve(fx->bo)',
      ])
        expect(ts).toContain(`// TODO device operation: C ${call}`);
      expect(ts).toContain('// C: r = fx_bo_reserve(fx->bo, true)');
      expect(ts).toContain('// C: fx->evictions++');
      expect(ts).not.toMatch(/TODO device operation: C (DRM_ERROR|fx_dbg)/);
      // The second test of `r` reads the result of another call: a truth test TypeScript does not narrow away.
      expect(ts.match(/if \(driverState\["r"\]\) \{/g)).toHaveLength(2);
    } finally {
      d.dispose();
    }
  });

  it.each(['correct-kernel-c', 'lock-leak.good', 'init-two-locks'])(
    'should give the fault path of %s the lock its interval callback holds around set_seq, as lint asks',
    async (name) => {
      const d = skeletonDir();
      try {
        const r = await initFromC(join(d.path, 'drv'), fixture(name));
        const rules = lint([r.file]).findings.map((f) => f.rule);
        expect(rules).not.toContain('set-seq-outside-lock');
        expect(rules).not.toContain('retry-outside-lock');
        if (name === 'init-two-locks') {
          const ts = readFileSync(r.file, 'utf8');
          expect(ts).toContain('lock: () => lock_fx_r.lock(),');
          expect(ts).toContain('await lock_fx_r.lock(); // C: fx_range_lock(fx->r) (a lock wrapper)');
        }
      } finally {
        d.dispose();
      }
    },
  );

  it('should refuse a missing file, a file with no ops table, and a folder that is not empty', async () => {
    const d = tempDir('init-from-c');
    try {
      await expect(initFromC(join(d.path, 'a'), join(d.path, 'none.c'))).rejects.toThrow(/init: no such file: .*none\.c/);
      await expect(initFromC(join(d.path, 'a'), fileURLToPath(import.meta.url))).rejects.toThrow(AnalyzeError);
      await expect(initFromC(REPO, fixture('lock-leak.good'))).rejects.toThrow(/exists and is not empty/);
      // A secondary-TLB callback alone is named, not called missing.
      await expect(initFromC(join(d.path, 'a'), fixture('init-secondary-tlb'))).rejects.toThrow(
        /fx_mn_ops\.invalidate_range = fx_invalidate_range is a secondary-TLB callback, which init --from does not translate/,
      );
      // A file with no ops table leaves no folder behind.
      expect(existsSync(join(d.path, 'a'))).toBe(false);
      writeFileSync(join(d.path, 'plain'), '');
      await expect(initFromC(join(d.path, 'plain', 'sub'), fixture('lock-leak.good'))).rejects.toThrow(
        expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringMatching(/cannot create it \(.*plain is not a folder\)$/) }),
      );
    } finally {
      d.dispose();
    }
  });

  const src = process.env.HMMLAB_LINUX_SRC;
  const testHmm = src === undefined ? undefined : join(src, 'lib', 'test_hmm.c');
  it.skipIf(testHmm === undefined || !existsSync(testHmm))(
    'should write a skeleton of lib/test_hmm.c that type-checks (HMMLAB_LINUX_SRC: the unpacked kernel source)',
    async () => {
      const d = skeletonDir();
      try {
        const r = await initFromC(join(d.path, 'drv'), testHmm as string);
        expect(r.callbacks).toBe(2);
        expect(typeErrors(d.path)).toEqual([]);
      } finally {
        d.dispose();
      }
    },
  );
});
