/**
 * The recorded scripts whose model output is known to differ from the kernel's, each with the line
 * of its first divergence and the reason (docs/kernel-semantics/gaps.md). The kernel output a
 * script is compared with is Linux 6.1's (fixtures/kernel-6.1), or, for a script that oopses 6.1's
 * test_hmm, 6.1's with patches 0001-0002 of docs/findings/patches applied
 * (fixtures/kernel-6.1-0001-0002). differential.test.ts fails when a listed script stops
 * diverging at that line, so the list stays true.
 */

/** Why a script diverges. */
export interface KnownDivergence {
  /** Line number (in the script) of the first line that differs. */
  readonly line: number;
  /**
   * `model`: a difference of the model, described in `cause`; `patch`: a script that oopses 6.1,
   * compared with 6.1 + 0001-0002, where patch 0002 changes what 6.1 prints.
   */
  readonly kind: 'model' | 'patch';
  readonly cause: string;
}

const RMAP_WALK =
  'migrate_to_dev of pages another process (a held child) also maps: 6.1 try_to_migrate_one (mm/rmap.c) sends MMU_NOTIFY_CLEAR to every VMA its rmap walk visits before the page is unmapped, the collecting process first, so the mirror loses entries; the model invalidates only where the page is mapped';

export const KNOWN_DIVERGENCES: Readonly<Record<string, KnownDivergence>> = {
  'gen-s1127': { line: 36, kind: 'model', cause: RMAP_WALK },
  'gen-s1178': { line: 21, kind: 'model', cause: RMAP_WALK },
  'gen-s1196': { line: 25, kind: 'model', cause: RMAP_WALK },
  'gen-s1197': { line: 14, kind: 'model', cause: RMAP_WALK },
  'gen-s1210': { line: 35, kind: 'model', cause: RMAP_WALK },
  'gen-s1232': { line: 31, kind: 'model', cause: RMAP_WALK },
  'gen-s1257': { line: 20, kind: 'model', cause: RMAP_WALK },
  'gen-s1277': { line: 42, kind: 'model', cause: RMAP_WALK },
  'gen-s1291': { line: 18, kind: 'model', cause: RMAP_WALK },
  'gen-s1292': { line: 45, kind: 'model', cause: RMAP_WALK },
  'gen-s1343': { line: 34, kind: 'model', cause: RMAP_WALK },
  'gen-s1349': { line: 49, kind: 'model', cause: RMAP_WALK },
  'gen-s1355': { line: 19, kind: 'model', cause: RMAP_WALK },
  'gen-s1356': {
    line: 40,
    kind: 'patch',
    cause:
      "migrate_to_dev of a shared (shmem) page: 0002 erases the mirror entries of the pages migrate_vma_setup collected, but 6.1 migrate_vma_pages (mm/migrate_device.c) then refuses to move a page with a mapping to device-private memory, so dmirror_migrate_to_device's final read misses (ENOENT); unpatched 6.1 and the model keep the entry",
  },
  'gen-s1369': { line: 25, kind: 'model', cause: RMAP_WALK },
  'gen-s1441': { line: 10, kind: 'model', cause: RMAP_WALK },
  'gen-s1469': { line: 21, kind: 'model', cause: RMAP_WALK },
  'gen-s1473': { line: 46, kind: 'model', cause: RMAP_WALK },
  'gen-s1498': { line: 38, kind: 'model', cause: RMAP_WALK },
  'gen-s1530': { line: 23, kind: 'model', cause: RMAP_WALK },
  'gen-s1534': {
    line: 28,
    kind: 'model',
    cause: 'dev_read faults 1 in 6.1, 0 in the model: 6.1 dropped a mirror entry the model keeps; not yet traced',
  },
  'gen-s1551': { line: 16, kind: 'model', cause: RMAP_WALK },
  'gen-s1590': { line: 30, kind: 'model', cause: RMAP_WALK },
  'hand-rmap-walk-1': { line: 6, kind: 'model', cause: RMAP_WALK },
  'hand-rmap-walk-6': { line: 7, kind: 'model', cause: RMAP_WALK },
};
