/**
 * Lint on the real drivers of linux-source-6.1: the findings judged in
 * docs/findings/c-lint-6.1.md, no more and no fewer. Needs the unpacked source: set
 * HMMLAB_LINUX_SRC to its folder (Debian: `apt-get install linux-source-6.1`, then unpack
 * /usr/src/linux-source-6.1.tar.xz). Skipped with a message when it is not set.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lint } from '../internal/lint.js';
import { REPO, tempDir, typeErrors } from '../internal/testing/temp.js';
import { initFromC } from './init-c.js';
import { lintC } from './lint-c.js';

const SRC = process.env.HMMLAB_LINUX_SRC;
const present = SRC !== undefined && existsSync(join(SRC, 'lib', 'test_hmm.c'));
if (!present) console.log('c-real.test.ts: skipped; set HMMLAB_LINUX_SRC to an unpacked linux-source-6.1 to lint the real drivers');

/** Each file, and its findings as `line severity rule` (see docs/findings/c-lint-6.1.md). */
const EXPECTED: readonly (readonly [string, readonly string[]])[] = [
  ['lib/test_hmm.c', ['303 warning revoke-without-dirty', '318 warning skip-before-set-seq']],
  ['drivers/gpu/drm/nouveau/nouveau_svm.c', ['245 warning revoke-without-dirty']],
  ['drivers/gpu/drm/nouveau/nouveau_dmem.c', []],
  ['drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c', ['114 warning revoke-without-dirty', '250 warning retry-outside-lock']],
  ['drivers/gpu/drm/amd/amdkfd/kfd_svm.c', ['2351 error sleep-when-nonblockable', '2404 warning event-fallthrough']],
  ['drivers/infiniband/hw/mlx5/odp.c', []],
  ['drivers/infiniband/core/umem_odp.c', []],
  ['drivers/gpu/drm/i915/gem/i915_gem_userptr.c', ['311 warning retry-outside-lock', '341 warning retry-outside-lock']],
  [
    'drivers/infiniband/hw/hfi1/user_exp_rcv.c',
    [
      '154 warning unshared-driver-state',
      '828 error sleep-when-nonblockable',
      '910 error event-fallthrough',
      '957 error sleep-when-nonblockable',
      '962 error skip-before-set-seq',
    ],
  ],
  ['drivers/iommu/amd/iommu_v2.c', ['286 error clear-without-flush']],
  ['drivers/xen/gntdev.c', ['474 error clear-without-flush']],
];

describe.skipIf(!present)('lint on the drivers of linux-source-6.1', () => {
  it.each(EXPECTED)('should report on %s exactly the findings judged in the note', async (file, expected) => {
    const r = await lintC([join(SRC as string, file)], { cwd: SRC as string });
    expect(r.findings.map((f) => `${f.line} ${f.severity} ${f.rule}`)).toEqual(expected);
  });
});

describe.skipIf(!present)('lint on mlx5 ODP with its core helpers, and with set_page_dirty deleted', () => {
  /** mlx5's odp.c and the ODP core's umem_odp.c, copied to a temp folder with `edit` applied to the second. */
  async function lintOdp(edit: (text: string) => string) {
    const d = tempDir('mlx5-odp');
    try {
      const files = ['drivers/infiniband/hw/mlx5/odp.c', 'drivers/infiniband/core/umem_odp.c'];
      for (const [i, f] of files.entries()) {
        mkdirSync(dirname(join(d.path, f)), { recursive: true });
        const text = readFileSync(join(SRC as string, f), 'utf8');
        writeFileSync(join(d.path, f), i === 1 ? edit(text) : text);
      }
      const r = await lintC(
        files.map((f) => join(d.path, f)),
        { cwd: d.path },
      );
      return r.findings.map((f) => `${f.file} ${f.line} ${f.rule}: ${f.message}`);
    } finally {
      d.dispose();
    }
  }

  it('should see the UMR zap (mlx5r_umr_update_xlt with MLX5_IB_UPD_XLT_ZAP) as a revoke that ib_umem_odp_unmap_dma_pages dirties', async () => {
    expect(await lintOdp((t) => t)).toEqual([]);
  });

  it('should report the zap once ib_umem_odp_unmap_dma_pages no longer calls set_page_dirty', async () => {
    const found = await lintOdp((t) => t.replace('set_page_dirty(head_page);', ';'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /odp\.c 293 revoke-without-dirty: mlx5_mn_ops\.invalidate revokes the device's translations with `mlx5r_umr_update_xlt\(\)`/,
    );
  });
});

/** Each file with a notifier ops table, and the invalidate callbacks `init --from` finds in it. */
const INIT: readonly (readonly [string, number])[] = [
  ['lib/test_hmm.c', 2],
  ['drivers/gpu/drm/nouveau/nouveau_svm.c', 2],
  ['drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c', 2],
  ['drivers/gpu/drm/amd/amdkfd/kfd_svm.c', 1],
  ['drivers/gpu/drm/radeon/radeon_mn.c', 1],
  ['drivers/gpu/drm/i915/gem/i915_gem_userptr.c', 1],
  ['drivers/infiniband/hw/mlx5/odp.c', 1],
  ['drivers/infiniband/hw/hfi1/user_exp_rcv.c', 2],
  ['drivers/infiniband/hw/hfi1/mmu_rb.c', 1],
  ['drivers/xen/gntdev.c', 1],
  ['drivers/misc/sgi-gru/grutlbpurge.c', 1],
];

describe.skipIf(!present)('init --from the drivers of linux-source-6.1', () => {
  it.each(INIT)('should write a skeleton of %s that type-checks', async (file, callbacks) => {
    const d = tempDir('init-from-real');
    try {
      symlinkSync(join(REPO, 'examples', 'node_modules'), join(d.path, 'node_modules'));
      const r = await initFromC(join(d.path, 'drv'), join(SRC as string, file));
      expect(r.callbacks).toBe(callbacks);
      expect(typeErrors(d.path)).toEqual([]);
      // Its fault path takes the lock the registered callback holds around set_seq.
      const locking = lint([r.file]).findings.filter((f) => f.rule === 'set-seq-outside-lock' || f.rule === 'retry-outside-lock');
      expect(locking).toEqual([]);
    } finally {
      d.dispose();
    }
  });
});
