/**
 * `clear-without-flush`: a callback or driver entry clears or write-protects device page-table
 * entries and returns with no TLB flush after it (bug class S7 where the flush is never issued;
 * invariant I6: a zapped PTE is followed by a TLB invalidation before the callback returns), or
 * issues an asynchronous flush and drops its fence where it makes it (S7 where the flush is never
 * waited for: `vm.flushTlbAsync(s, e);`, `void fence.wait()`). A
 * device TLB caches translations: an entry cleared in the page table is still used until the TLB
 * is invalidated.
 * Hardware drivers follow each PTE update with a TLB invalidation before the callback returns:
 * `xe_svm_invalidate` zaps the PTEs, then issues and waits for the TLB invalidations
 * (`xe_vm_range_tilemask_tlb_invalidation`, drivers/gpu/drm/xe/xe_svm.c);
 * `svm_range_unmap_from_gpus` flushes after `amdgpu_vm_update_range`
 * (`kfd_flush_tlb`, drivers/gpu/drm/amd/amdkfd/kfd_svm.c).
 *
 * The interpreter does not track the driver's own state exactly (bit masks, counters), so a path
 * that skips the flush only because of such state may not be feasible. Paths are judged by what
 * the kernel decides: the rule fires when, for some event, owner and blockability, no path
 * through a PTE update has a TLB flush after it. Devices created with `tlb: false` cache nothing
 * and are exempt.
 */
import { type Node, SyntaxKind } from 'ts-morph';
import type { PathResult } from '../internal/model/analyze.js';
import { type DeviceOp, PTE_REVOKES, siteKey, TLB_FLUSHES, withoutTlb } from './device-tlb.js';
import { blame, kernelConditions, type RawFinding, type Rule } from './rule.js';

/** Each PTE update of a path, and whether a TLB flush comes after it on the path. */
function updates(p: PathResult): { op: DeviceOp; flushed: boolean }[] {
  const ops = p.state.effects.filter((e): e is DeviceOp => e.t === 'flush');
  return ops.flatMap((e, i) => (PTE_REVOKES.has(e.op) ? [{ op: e, flushed: ops.slice(i + 1).some((x) => TLB_FLUSHES.has(x.op)) }] : []));
}

/** The node an expression's value goes to, through parentheses. */
function user(n: Node): Node | undefined {
  let p = n.getParent();
  while (p?.getKind() === SyntaxKind.ParenthesizedExpression) p = p.getParent();
  return p;
}

/** True if nothing can use the value of `n`: it is a statement of its own, or `void`ed. */
function discarded(n: Node): boolean {
  const k = user(n)?.getKind();
  return k === SyntaxKind.ExpressionStatement || k === SyntaxKind.VoidExpression;
}

/**
 * True if the fence of a `flushTlbAsync` call is dropped where it is made: the call is a statement
 * of its own or `void`ed (S7: issued, never waited for), or so is the `.wait()` called on it
 * (the wait's promise is not awaited: the callback goes on before the flush completes).
 */
function fenceDropped(call: Node): boolean {
  if (discarded(call)) return true;
  const access = user(call);
  if (access?.getKind() !== SyntaxKind.PropertyAccessExpression || access.getLastChild()?.getText() !== 'wait') return false;
  const wait = access.getParent();
  return wait?.getKind() === SyntaxKind.CallExpression && discarded(wait);
}

/** What the kernel decided on a path: the event set, the owner test, blockability. */
function kernelKnowledge(p: PathResult): string {
  return `${p.state.events}|${String(p.state.own)}|${String(p.state.blockable)}`;
}

/** The `clear-without-flush` rule (see the file comment). */
export const clearWithoutFlush: Rule = {
  id: 'clear-without-flush',
  severity: 'error',
  description:
    'a path clears or write-protects device PTEs and returns without a TLB flush after it, or issues an asynchronous flush and drops its fence',
  check(a) {
    const out: RawFinding[] = [];
    for (const r of [...a.callbacks, ...a.entries.filter((e) => !e.helper)]) {
      const groups = new Map<string, { flushed: boolean; op: DeviceOp; path: PathResult }>();
      for (const p of r.paths) {
        if (p.outcome === 'throw') continue;
        for (const u of updates(p)) {
          const key = `${siteKey(u.op)}\0${kernelKnowledge(p)}`;
          const g = groups.get(key);
          if (g === undefined) groups.set(key, { flushed: u.flushed, op: u.op, path: p });
          else g.flushed ||= u.flushed;
        }
      }
      const reported = new Set<string>();
      for (const p of r.paths) {
        for (const e of p.state.effects) {
          if (e.t !== 'flush' || e.op !== 'flushTlbAsync' || reported.has(siteKey(e)) || !fenceDropped(e.node)) continue;
          reported.add(siteKey(e));
          out.push({
            node: blame(a, e.node, e.stack),
            message:
              `${r.name} issues \`${e.target}.flushTlbAsync()\` and drops its fence: nothing waits for the TLB invalidation, so it ` +
              'returns while the device may still use the translations its TLB cached. Await `.wait()` on the fence before returning',
          });
        }
      }
      for (const g of groups.values()) {
        if (g.flushed || reported.has(siteKey(g.op)) || withoutTlb(a, g.op.node)) continue;
        reported.add(siteKey(g.op));
        out.push({
          node: blame(a, g.op.node, g.op.stack),
          message:
            `${r.name} returns after \`${g.op.target}.${g.op.op}()\` (${kernelConditions(g.path.state)}) with no TLB flush after it: ` +
            `the device keeps using the translation its TLB cached. Call \`${g.op.target}.flushTlb(start, end)\` (or await \`flushTlbAsync\`) after the update, before returning`,
        });
      }
    }
    return out;
  },
};
