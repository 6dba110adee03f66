/**
 * `revoke-without-dirty`: an invalidate callback (interval `invalidate`, classic
 * `invalidateRangeStart`) revokes the device's translations (clears or write-protects device PTEs,
 * or stops the device while its table stays) on a path the kernel takes for `MMU_NOTIFY_CLEAR`,
 * and no path through that revoke marks pages dirty
 * (`kernel.pages.setPageDirty`, `vm.dirtyWritable`). The device reaches pages `hmmRangeFault` gave
 * it, unpinned; its write leaves the CPU entry clean. After `MADV_FREE`, reclaim's invalidation
 * is a CLEAR, and once the callbacks ran it discards a page still clean, the device's write with
 * it (mm/rmap.c, `try_to_unmap_one`, "MADV_FREE page check"). `ib_umem_odp_unmap_dma_pages` calls
 * `set_page_dirty` for the pages the NIC could write (drivers/infiniband/core/umem_odp.c); test_hmm
 * does not, and on Linux 6.1 its device's write after `MADV_FREE` is lost
 * (docs/findings/device-writes-not-dirtied.md).
 *
 * A warning: the analysis does not know which entries are writable. A driver whose device never
 * maps a page writable (every `setPte` it makes passes `write: false`) is left alone, and so are
 * paths that run only for other events (an UNMAP's memory goes away).
 */
import { type Node, SyntaxKind } from 'ts-morph';
import type { Analysis, PathResult } from '../internal/model/analyze.js';
import { EV } from '../internal/model/values.js';
import { type DeviceOp, PTE_REVOKES, siteKey } from './device-tlb.js';
import { blame, kernelConditions, type RawFinding, type Rule } from './rule.js';

/** Device operations after which the device no longer writes through a translation it had. */
const REVOKES = new Set([...PTE_REVOKES, 'quiesce']);

/** True if the `setPte` call `call` may map writable: its permissions are not a literal `{ write: false }`. */
function mayMapWritable(call: Node): boolean {
  const perm = call.asKind(SyntaxKind.CallExpression)?.getArguments()[2];
  const literal = perm?.asKind(SyntaxKind.ObjectLiteralExpression);
  if (literal === undefined) return true;
  const write = literal.getProperty('write');
  if (write === undefined) return false;
  return write.asKind(SyntaxKind.PropertyAssignment)?.getInitializer()?.getKind() !== SyntaxKind.FalseKeyword;
}

/** True if some path of the driver's callbacks or entry points writes a device PTE that may be writable. */
function mapsWritable(a: Analysis): boolean {
  for (const r of [...a.callbacks, ...a.entries]) {
    for (const p of r.paths) {
      for (const e of p.state.effects) if (e.t === 'program' && e.op === 'setPte' && mayMapWritable(e.node)) return true;
    }
  }
  return false;
}

/** The `revoke-without-dirty` rule (see the file comment). */
export const revokeWithoutDirty: Rule = {
  id: 'revoke-without-dirty',
  severity: 'warning',
  description:
    'an invalidate callback revokes device translations on a CLEAR path and no path through the revoke marks pages dirty: a device write after MADV_FREE is lost at reclaim',
  check(a) {
    const out: RawFinding[] = [];
    if (!mapsWritable(a)) return out;
    for (const cb of a.callbacks) {
      if (cb.kind !== 'interval' && cb.kind !== 'start') continue;
      // Each revoke site, and whether some path through it marks pages dirty (before or after it:
      // what counts is that the page is dirty when reclaim looks, once the callbacks returned).
      const sites = new Map<string, { dirtied: boolean; op: DeviceOp; path: PathResult }>();
      for (const p of cb.paths) {
        if (p.outcome === 'throw' || (p.state.events & EV.CLEAR) === 0) continue;
        const dirtied = p.state.effects.some((e) => e.t === 'dirty');
        for (const e of p.state.effects) {
          if (e.t !== 'flush' || !REVOKES.has(e.op)) continue;
          const key = siteKey(e);
          const s = sites.get(key);
          if (s === undefined) sites.set(key, { dirtied, op: e, path: p });
          else s.dirtied ||= dirtied;
        }
      }
      for (const { dirtied, op, path } of sites.values()) {
        if (dirtied) continue;
        out.push({
          node: blame(a, op.node, op.stack),
          message:
            `${cb.name} revokes the device's translations with \`${op.target}.${op.op}()\` (${kernelConditions(path.state)}) and ` +
            'marks no page dirty on any path through it: a device write leaves the CPU entry clean, so after MADV_FREE reclaim ' +
            '(a CLEAR) discards the page with what the device wrote (mm/rmap.c, try_to_unmap_one). If the device can write ' +
            `system memory, call \`${op.target}.dirtyWritable(start, end)\` (set_page_dirty of each writable entry's page) ` +
            'before revoking, as ib_umem_odp_unmap_dma_pages does',
        });
      }
    }
    return out;
  },
};
