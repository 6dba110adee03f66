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
const RMAP_WALK =
  'migrate_to_dev of pages another process (a held child) also maps: 6.1 try_to_migrate_one (mm/rmap.c) sends MMU_NOTIFY_CLEAR to every VMA its rmap walk visits before the page is unmapped, the collecting process first, so the mirror loses entries; the model invalidates only where the page is mapped';

export const KNOWN_DIVERGENCES: Readonly<Record<string, KnownDivergence>> = {
  'gen-s1019': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1055': { line: 17, kind: 'kernel-oops', cause: OOPS },
  'gen-s1058': { line: 19, kind: 'kernel-oops', cause: OOPS },
  'gen-s1127': { line: 36, kind: 'model', cause: RMAP_WALK },
  'gen-s1133': { line: 19, kind: 'kernel-oops', cause: OOPS },
  'gen-s1177': { line: 21, kind: 'kernel-oops', cause: OOPS },
  'gen-s1178': { line: 21, kind: 'model', cause: RMAP_WALK },
  'gen-s1196': { line: 25, kind: 'model', cause: RMAP_WALK },
  'gen-s1197': { line: 14, kind: 'model', cause: RMAP_WALK },
  'gen-s1210': { line: 35, kind: 'model', cause: RMAP_WALK },
  'gen-s1213': { line: 15, kind: 'kernel-oops', cause: OOPS },
  'gen-s1225': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1229': { line: 30, kind: 'kernel-oops', cause: OOPS },
  'gen-s1232': { line: 31, kind: 'model', cause: RMAP_WALK },
  'gen-s1239': { line: 26, kind: 'kernel-oops', cause: OOPS },
  'gen-s1254': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1257': { line: 20, kind: 'model', cause: RMAP_WALK },
  'gen-s1261': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1262': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1277': { line: 42, kind: 'model', cause: RMAP_WALK },
  'gen-s1281': { line: 31, kind: 'kernel-oops', cause: OOPS },
  'gen-s1291': { line: 18, kind: 'model', cause: RMAP_WALK },
  'gen-s1292': { line: 45, kind: 'model', cause: RMAP_WALK },
  'gen-s1303': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1311': { line: 22, kind: 'kernel-oops', cause: OOPS },
  'gen-s1341': { line: 44, kind: 'kernel-oops', cause: OOPS },
  'gen-s1343': { line: 34, kind: 'model', cause: RMAP_WALK },
  'gen-s1349': { line: 49, kind: 'model', cause: RMAP_WALK },
  'gen-s1351': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1355': { line: 19, kind: 'model', cause: RMAP_WALK },
  'gen-s1356': { line: 39, kind: 'kernel-oops', cause: OOPS },
  'gen-s1358': { line: 23, kind: 'kernel-oops', cause: OOPS },
  'gen-s1369': { line: 25, kind: 'model', cause: RMAP_WALK },
  'gen-s1390': { line: 13, kind: 'kernel-oops', cause: OOPS },
  'gen-s1405': { line: 13, kind: 'kernel-oops', cause: OOPS },
  'gen-s1422': { line: 25, kind: 'kernel-oops', cause: OOPS },
  'gen-s1435': { line: 34, kind: 'kernel-oops', cause: OOPS },
  'gen-s1441': { line: 10, kind: 'model', cause: RMAP_WALK },
  'gen-s1462': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1469': { line: 21, kind: 'model', cause: RMAP_WALK },
  'gen-s1473': { line: 46, kind: 'model', cause: RMAP_WALK },
  'gen-s1490': { line: 40, kind: 'kernel-oops', cause: OOPS },
  'gen-s1498': { line: 38, kind: 'model', cause: RMAP_WALK },
  'gen-s1506': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1509': { line: 25, kind: 'kernel-oops', cause: OOPS },
  'gen-s1523': { line: 46, kind: 'kernel-oops', cause: OOPS },
  'gen-s1524': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1530': { line: 23, kind: 'model', cause: RMAP_WALK },
  'gen-s1534': {
    line: 28,
    kind: 'model',
    cause: 'dev_read faults 1 in 6.1, 0 in the model: 6.1 dropped a mirror entry the model keeps; not yet traced',
  },
  'gen-s1540': { line: 32, kind: 'kernel-oops', cause: OOPS },
  'gen-s1541': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1544': { line: 51, kind: 'kernel-oops', cause: OOPS },
  'gen-s1546': { line: 30, kind: 'kernel-oops', cause: OOPS },
  'gen-s1551': { line: 16, kind: 'model', cause: RMAP_WALK },
  'gen-s1558': { line: 27, kind: 'kernel-oops', cause: OOPS },
  'gen-s1563': { line: 20, kind: 'kernel-oops', cause: OOPS },
  'gen-s1570': { line: 20, kind: 'kernel-oops', cause: OOPS },
  'gen-s1579': { line: 24, kind: 'kernel-oops', cause: OOPS },
  'gen-s1590': { line: 30, kind: 'model', cause: RMAP_WALK },
  'gen-s1592': { line: 13, kind: 'kernel-oops', cause: OOPS },
  'hand-rmap-walk-1': { line: 6, kind: 'model', cause: RMAP_WALK },
  'hand-rmap-walk-6': { line: 7, kind: 'model', cause: RMAP_WALK },
};
