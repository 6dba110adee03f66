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
   * `model`: a difference of the model, described in `cause`; `kernel-timing`: the recorded
   * kernel line is one outcome of a timing-dependent kernel path, and runs of the same script on
   * the same kernel print what the model prints.
   */
  readonly kind: 'model' | 'kernel-timing';
  readonly cause: string;
}

export const KNOWN_DIVERGENCES: Readonly<Record<string, KnownDivergence>> = {
  'gen-s1127': {
    line: 36,
    kind: 'kernel-timing',
    cause:
      'migrate_to_dev of two pages a held child shares: the recording printed ENOENT (a page not migrated, its mirror entry cleared), but 40 of 40 later runs of the script on the same 6.1 build print ok cpages=2, as the model does; a page that fails migrate_vma_check_page (mm/migrate_device.c) for an extra reference held only for a moment is the likely cause',
  },
};
