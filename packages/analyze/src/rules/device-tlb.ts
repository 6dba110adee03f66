/**
 * What the TLB rules share: which device operations change a device PTE and which flush the TLB,
 * and whether a driver's devices cache translations at all (`new Device(kernel, { tlb: false })`:
 * every access walks the page table, so a cleared entry is revoked at once).
 */
import { type Node, type SourceFile, SyntaxKind } from 'ts-morph';
import type { Analysis } from '../internal/model/analyze.js';
import type { Effect } from '../internal/model/state.js';

/** Device page-table updates that leave a stale TLB entry behind. */
export const PTE_REVOKES = new Set(['clearRange', 'clearPte', 'writeProtectRange']);
/** TLB invalidations. */
export const TLB_FLUSHES = new Set(['flushTlb', 'flushTlbAsync']);

/** A device operation a path performed. */
export type DeviceOp = Extract<Effect, { t: 'flush' }>;

const noTlbCache = new WeakMap<Analysis, Map<string, boolean>>();

/** True if `file` declares a device option `tlb: false`. */
function declaresNoTlb(file: SourceFile): boolean {
  return file.getDescendantsOfKind(SyntaxKind.PropertyAssignment).some((p) => {
    const init = p.getInitializer();
    return p.getName() === 'tlb' && init !== undefined && init.getKind() === SyntaxKind.FalseKeyword;
  });
}

/**
 * True if the code at `node` belongs to a driver whose devices have no TLB: its file, or a file
 * it imports (directly or not), creates a device with `tlb: false`.
 */
export function withoutTlb(a: Analysis, node: Node): boolean {
  let cache = noTlbCache.get(a);
  if (cache === undefined) noTlbCache.set(a, (cache = new Map()));
  const start = node.getSourceFile();
  const known = cache.get(start.getFilePath());
  if (known !== undefined) return known;
  const seen = new Set<string>();
  const todo: SourceFile[] = [start];
  let found = false;
  while (todo.length > 0 && !found) {
    const f = todo.pop() as SourceFile;
    if (seen.has(f.getFilePath())) continue;
    seen.add(f.getFilePath());
    found = declaresNoTlb(f);
    for (const d of [...f.getImportDeclarations(), ...f.getExportDeclarations()]) {
      const spec = d.getModuleSpecifierValue();
      const target = spec === undefined ? undefined : a.program.resolveModule(f, spec);
      if (target !== undefined) todo.push(target);
    }
  }
  cache.set(start.getFilePath(), found);
  return found;
}

/** A stable key of an operation's site: its node and the call sites that led to it. */
export function siteKey(e: DeviceOp): string {
  const pos = (n: Node) => `${n.getSourceFile().getFilePath()}:${n.getStart()}`;
  return [...e.stack.map(pos), pos(e.node)].join(' > ');
}
