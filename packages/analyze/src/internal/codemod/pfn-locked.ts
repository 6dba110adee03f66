/**
 * `MIGRATE_PFN_LOCKED` exists before v5.17 only ("mm/migrate.c: Remove MIGRATE_PFN_LOCKED"):
 * destination entries built with `migratePfn(...)` carry it in older profiles and drop it in
 * newer ones.
 */
import { Node, SyntaxKind } from 'ts-morph';
import { type FileEdits, profileGuarded } from './edits.js';
import type { ProfileApi } from './profiles.js';

const LOCKED = 'MIGRATE_PFN_LOCKED';

/** True inside a function that uses the `migrate_device_*` API (v6.1, after the flag was gone): it never takes the flag. */
function usesDeviceRangeApi(n: Node): boolean {
  const fn = n.getFirstAncestor((a) => Node.isFunctionLikeDeclaration(a) || Node.isArrowFunction(a) || Node.isFunctionExpression(a));
  return fn !== undefined && /\bmigrateDevice(Range|Pages|Pfns|Finalize)\(/.test(fn.getText());
}

/** Adds or removes `| MIGRATE_PFN_LOCKED` on destination entries. */
export function rewritePfnLocked(fe: FileEdits, from: ProfileApi, to: ProfileApi): void {
  if (from.pfnLocked === to.pfnLocked) return;
  const why = `MIGRATE_PFN_LOCKED ${to.pfnLocked ? 'added' : 'removed'} (profile ${from.name} → ${to.name})`;
  if (!to.pfnLocked) {
    for (const bin of fe.file.getDescendantsOfKind(SyntaxKind.BinaryExpression)) {
      if (bin.getOperatorToken().getKind() !== SyntaxKind.BarToken || profileGuarded(bin)) continue;
      const l = bin.getLeft();
      const r = bin.getRight();
      if (r.getText() === LOCKED) fe.span(l.getEnd(), r.getEnd(), '');
      else if (l.getText() === LOCKED) fe.span(l.getStart(), r.getStart(), '');
      else continue;
      fe.changes.push({ line: bin.getStartLineNumber(), message: why });
      fe.touched.add(LOCKED);
    }
    return;
  }
  for (const bin of fe.file.getDescendantsOfKind(SyntaxKind.BinaryExpression)) {
    if (bin.getOperatorToken().getKind() !== SyntaxKind.EqualsToken) continue;
    const left = bin.getLeft();
    const right = bin.getRight();
    if (!Node.isElementAccessExpression(left) || !/\bdst$/.test(left.getExpression().getText())) continue;
    const text = right.getText();
    if (!/\bmigratePfn\(/.test(text) || text.includes(LOCKED) || profileGuarded(bin) || usesDeviceRangeApi(bin)) continue;
    const wrap =
      Node.isConditionalExpression(right) ||
      (Node.isBinaryExpression(right) && /^(\?\?|\|\||&&)$/.test(right.getOperatorToken().getText()));
    fe.replace(right, wrap ? `(${text}) | ${LOCKED}` : `${text} | ${LOCKED}`, why);
    fe.touched.add(LOCKED);
  }
}
