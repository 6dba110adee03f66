/**
 * The owner field of `struct mmu_notifier_range` across profiles: `data` (the seed patch as
 * posted) → `migrate_pgmap_owner` (v5.9) → `owner` (v5.14, 6b49bf6ddbb0). Only reads of a range
 * are renamed (a parameter typed `MmuNotifierRange`, or the range parameter of an `invalidate` /
 * `invalidateRangeStart` / `invalidateRangeEnd` callback).
 */
import { Node, SyntaxKind } from 'ts-morph';
import { type FileEdits, profileGuarded } from './edits.js';
import type { ProfileApi } from './profiles.js';

const FIELDS = new Set(['data', 'migratePgmapOwner', 'owner']);
const CALLBACKS = new Set(['invalidate', 'invalidateRangeStart', 'invalidateRangeEnd']);

/** True if `e` is a range: its declaration is typed `MmuNotifierRange`, or it is a callback's range parameter. */
function isRange(e: Node | undefined): boolean {
  if (e === undefined) return false;
  if (!Node.isIdentifier(e)) return false;
  const name = e.getText();
  for (let p: Node | undefined = e.getParent(); p !== undefined; p = p.getParent()) {
    if (!(Node.isFunctionLikeDeclaration(p) || Node.isArrowFunction(p) || Node.isFunctionExpression(p))) continue;
    const params = p.getParameters();
    const i = params.findIndex((q) => q.getName() === name);
    if (i < 0) continue;
    const param = params[i];
    const type = param?.getTypeNode()?.getText();
    if (type !== undefined) return /\bMmuNotifierRange\b/.test(type);
    const holder = Node.isMethodDeclaration(p) ? p : p.getParent();
    const cbName = holder !== undefined && (Node.isMethodDeclaration(holder) || Node.isPropertyAssignment(holder)) ? holder.getName() : '';
    return i === 1 && CALLBACKS.has(cbName);
  }
  return false;
}

/** Renames reads of the owner field to `to`'s name. */
export function renameOwnerField(fe: FileEdits, from: ProfileApi, to: ProfileApi): void {
  const reads = fe.file
    .getDescendantsOfKind(SyntaxKind.PropertyAccessExpression)
    .filter((pa) => FIELDS.has(pa.getName()) && isRange(pa.getExpression()));
  const names = new Set(reads.map((r) => r.getName()));
  if (reads.length === 0) return;
  if (names.size > 1) {
    fe.note(
      reads[0] ?? fe.file,
      `reads ${[...names].map((n) => `range.${n}`).join(' and ')}: code for several profiles, owner fields left as they are`,
    );
    return;
  }
  for (const r of reads) {
    const field = r.getName();
    if (field === to.ownerField) continue;
    if (profileGuarded(r)) continue;
    if (to.ownerField === null) {
      fe.note(r, `profile ${to.name} has no owner field (before the seed patch): \`${r.getText()}\` is always undefined there`);
      continue;
    }
    fe.replace(r.getNameNode(), to.ownerField, `range.${field} → range.${to.ownerField} (profile ${from.name} → ${to.name})`);
  }
}
