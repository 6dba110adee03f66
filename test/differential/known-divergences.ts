/**
 * The recorded scripts whose model output is known to differ from Linux 6.1's, each with the line
 * of its first divergence and the reason (docs/kernel-semantics/gaps.md). differential.test.ts
 * fails when a listed script stops diverging at that line, so the list stays true.
 */

/** Why a script diverges. */
export interface KnownDivergence {
  /** Line number (in the script) of the first line that differs. */
  readonly line: number;
  /**
   * `kernel-oops`: 6.1's test_hmm oopses there (the kernel is wrong, the model is kept right);
   * `model`: a difference of the model, described in `cause`.
   */
  readonly kind: 'kernel-oops' | 'model';
  readonly cause: string;
}

const OOPS =
  '6.1 test_hmm oopses: dmirror_do_fault stores the device-private page itself when hmm_range_fault reports a page of its own device whose mirror entry was dropped (fork, mprotect), and dmirror_do_read/dmirror_do_write then kmap it (lib/test_hmm.c); the model keeps serving the device page, as the patched driver does';

export const KNOWN_DIVERGENCES: Readonly<Record<string, KnownDivergence>> = {
  'gen-s1019': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1040': {
    line: 39,
    kind: 'model',
    cause: 'migrate_to_dev after fork: 6.1 migrates pages a held child shares that the model refuses (ENOENT); not yet traced',
  },
  'gen-s1055': { line: 17, kind: 'kernel-oops', cause: OOPS },
  'gen-s1058': { line: 19, kind: 'kernel-oops', cause: OOPS },
  'gen-s1062': {
    line: 25,
    kind: 'model',
    cause:
      "dev_write after fork to a read-only device-private page of this device: 6.1's dmirror_do_fault as read WARNs and returns -EFAULT (what the port does), yet 6.1 succeeded without a warning; not yet traced",
  },
  'gen-s1127': {
    line: 36,
    kind: 'model',
    cause: 'migrate_to_dev after fork with a held child: 6.1 returns -ENOENT where the model migrates; not yet traced',
  },
  'gen-s1133': { line: 19, kind: 'kernel-oops', cause: OOPS },
  'gen-s1177': { line: 21, kind: 'kernel-oops', cause: OOPS },
  'gen-s1210': { line: 40, kind: 'kernel-oops', cause: OOPS },
  'gen-s1213': { line: 15, kind: 'kernel-oops', cause: OOPS },
  'gen-s1225': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1229': { line: 30, kind: 'kernel-oops', cause: OOPS },
  'gen-s1239': { line: 26, kind: 'kernel-oops', cause: OOPS },
  'gen-s1254': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1261': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1262': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1281': { line: 31, kind: 'kernel-oops', cause: OOPS },
  'gen-s1303': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1311': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1341': { line: 44, kind: 'kernel-oops', cause: OOPS },
  'gen-s1349': { line: 51, kind: 'kernel-oops', cause: OOPS },
  'gen-s1351': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1356': { line: 39, kind: 'kernel-oops', cause: OOPS },
  'gen-s1358': { line: 23, kind: 'kernel-oops', cause: OOPS },
  'gen-s1390': { line: 13, kind: 'kernel-oops', cause: OOPS },
  'gen-s1405': { line: 13, kind: 'kernel-oops', cause: OOPS },
  'gen-s1422': { line: 25, kind: 'kernel-oops', cause: OOPS },
  'gen-s1435': { line: 34, kind: 'kernel-oops', cause: OOPS },
  'gen-s1462': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1473': { line: 41, kind: 'model', cause: 'dev_write after fork to a read-only device-private page of this device (as gen-s1062)' },
  'gen-s1490': { line: 40, kind: 'kernel-oops', cause: OOPS },
  'gen-s1506': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1509': { line: 25, kind: 'kernel-oops', cause: OOPS },
  'gen-s1523': { line: 46, kind: 'kernel-oops', cause: OOPS },
  'gen-s1524': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1530': { line: 29, kind: 'kernel-oops', cause: OOPS },
  'gen-s1534': {
    line: 28,
    kind: 'model',
    cause: 'dev_read faults 1 in 6.1, 0 in the model: the mirror kept an entry 6.1 dropped; not yet traced',
  },
  'gen-s1540': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1541': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1544': { line: 51, kind: 'kernel-oops', cause: OOPS },
  'gen-s1546': { line: 30, kind: 'kernel-oops', cause: OOPS },
  'gen-s1558': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1563': { line: 20, kind: 'kernel-oops', cause: OOPS },
  'gen-s1570': { line: 20, kind: 'kernel-oops', cause: OOPS },
  'gen-s1579': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1592': { line: 13, kind: 'kernel-oops', cause: OOPS },
};
