/**
 * Device-exclusive access across profiles: `makeDeviceExclusiveRange` (5.14–6.13) ↔
 * `makeDeviceExclusive` (~6.14). The other API is expressed by a small helper the codemod adds at
 * the end of the file (and removes again on the way back).
 */
import { Node, SyntaxKind } from 'ts-morph';
import { type FileEdits, profileGuarded } from './edits.js';
import type { ProfileApi } from './profiles.js';

const MARK = 'hmmlab codemod helper';

const HELPERS = {
  /** The single-page API, for a profile that has the range API. */
  makeDeviceExclusiveViaRange: {
    replaces: 'makeDeviceExclusive',
    uses: ['makeDeviceExclusiveRange', 'EBUSY', 'Mm', 'Page'],
    text: `
/** ${MARK}: \`make_device_exclusive\` (~6.14) expressed with \`make_device_exclusive_range\` (5.14–6.13). */
async function makeDeviceExclusiveViaRange(mm: Mm, addr: number, owner: unknown): Promise<Page | number> {
  const pages: (Page | null)[] = [null];
  const r = await makeDeviceExclusiveRange(mm, addr, addr + mm.kernel.pageSize, pages, owner);
  return r < 0 ? r : (pages[0] ?? -EBUSY);
}
`,
  },
  /** The range API, for a profile that has the single-page one. */
  makeDeviceExclusiveRangeViaSingle: {
    replaces: 'makeDeviceExclusiveRange',
    uses: ['makeDeviceExclusive', 'Mm', 'Page'],
    text: `
/** ${MARK}: \`make_device_exclusive_range\` (5.14–6.13) expressed with \`make_device_exclusive\` (~6.14). */
async function makeDeviceExclusiveRangeViaSingle(mm: Mm, start: number, end: number, pages: (Page | null)[], owner: unknown): Promise<number> {
  let i = 0;
  for (let addr = start; addr < end; addr += mm.kernel.pageSize, i++) {
    const page = await makeDeviceExclusive(mm, addr, owner);
    if (typeof page === 'number' && i === 0) return page;
    pages[i] = typeof page === 'number' ? null : page;
  }
  return i;
}
`,
  },
} as const;

type HelperName = keyof typeof HELPERS;

/** Rewrites calls of the device-exclusive API for `to`. */
export function rewriteExclusive(fe: FileEdits, from: ProfileApi, to: ProfileApi): void {
  if (from.exclusive === to.exclusive) return;
  const calls = fe.file.getDescendantsOfKind(SyntaxKind.CallExpression).filter((c) => Node.isIdentifier(c.getExpression()));
  const named = (n: string) => calls.filter((c) => c.getExpression().getText() === n && !profileGuarded(c));
  if (named('makeDeviceExclusive').length > 0 && named('makeDeviceExclusiveRange').length > 0) {
    fe.note(fe.file, 'uses both makeDeviceExclusive and makeDeviceExclusiveRange: code for several profiles, left as it is');
    return;
  }
  if (to.exclusive === null) {
    for (const c of [...named('makeDeviceExclusive'), ...named('makeDeviceExclusiveRange')]) {
      fe.note(c, `profile ${to.name} has no device-exclusive API (v5.14): \`${c.getExpression().getText()}\` throws ERR_PROFILE there`);
    }
    return;
  }
  const want: HelperName = to.exclusive === 'single' ? 'makeDeviceExclusiveRangeViaSingle' : 'makeDeviceExclusiveViaRange';
  const undo: HelperName = to.exclusive === 'single' ? 'makeDeviceExclusiveViaRange' : 'makeDeviceExclusiveRangeViaSingle';
  const why = `device-exclusive API of profile ${to.name}`;
  const old = fe.file.getFunction(undo);
  if (old?.getJsDocs().some((d) => d.getText().includes(MARK))) {
    for (const c of named(undo)) fe.replace(c.getExpression(), HELPERS[undo].replaces, `${why}: ${undo} → ${HELPERS[undo].replaces}`);
    fe.span(old.getPos(), old.getEnd(), '');
    for (const u of [...HELPERS[undo].uses, HELPERS[undo].replaces]) fe.touched.add(u);
    return;
  }
  const sites = named(HELPERS[want].replaces);
  if (sites.length === 0) return;
  for (const c of sites)
    fe.replace(c.getExpression(), want, `${why}: ${HELPERS[want].replaces} → ${want} (helper added at the end of the file)`);
  if (fe.file.getFunction(want) === undefined) {
    const end = fe.file.getEnd();
    fe.span(end, end, HELPERS[want].text);
  }
  for (const u of [...HELPERS[want].uses, HELPERS[want].replaces]) fe.touched.add(u);
}
