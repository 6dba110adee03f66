/**
 * `dma-unmap-while-mapped`: a path DMA-unmaps a page before it revokes the device's translation
 * (a PTE clear and a TLB flush come after the unmap on the same path). Until the flush the device
 * can still reach the page through its old entry, at a DMA address that is no longer valid:
 * `dma_unmap_page_attrs` (kernel/dma/mapping.c) tears down the IOMMU mapping, and the page may be
 * freed and reused. mlx5 ODP revokes first: `mlx5_ib_invalidate_range` zaps the MTT entries
 * (`mlx5r_umr_update_xlt` with `MLX5_IB_UPD_XLT_ZAP`) and only then calls
 * `ib_umem_odp_unmap_dma_pages` (drivers/infiniband/hw/mlx5/odp.c).
 *
 * A path that unmapped after a full revocation (loops that revoke and unmap range by range) is
 * not judged again; a device created with `tlb: false` is revoked by the PTE clear alone.
 */
import type { Analysis, PathResult } from '../internal/model/analyze.js';
import { type DeviceOp as Flush, PTE_REVOKES, TLB_FLUSHES, withoutTlb } from './device-tlb.js';
import { at, blame, kernelConditions, type RawFinding, type Rule } from './rule.js';

/**
 * The first DMA unmap of a path issued before the translation was revoked (no PTE update then
 * TLB flush before it; the update alone on a device without a TLB), when a PTE update or TLB
 * flush follows it: the device still mapped it. Returns the unmap and the revocation after it.
 */
function earlyUnmap(a: Analysis, p: PathResult): { unmap: Flush; later: Flush } | undefined {
  const flushes = p.state.effects.filter((e): e is Flush => e.t === 'flush');
  let cleared = false;
  let revoked = false;
  for (const [i, e] of flushes.entries()) {
    if (PTE_REVOKES.has(e.op)) {
      cleared = true;
      revoked ||= withoutTlb(a, e.node);
    } else if (TLB_FLUSHES.has(e.op)) revoked ||= cleared;
    else if (e.op === 'dmaUnmap') {
      if (revoked) return undefined;
      const later = flushes.slice(i + 1).find((x) => PTE_REVOKES.has(x.op) || TLB_FLUSHES.has(x.op));
      return later === undefined ? undefined : { unmap: e, later };
    }
  }
  return undefined;
}

/** The `dma-unmap-while-mapped` rule (see the file comment). */
export const dmaUnmapWhileMapped: Rule = {
  id: 'dma-unmap-while-mapped',
  severity: 'error',
  description: 'a path DMA-unmaps a page before clearing its device PTE and flushing the TLB',
  check(a) {
    const out: RawFinding[] = [];
    for (const r of [...a.callbacks, ...a.entries.filter((e) => !e.helper)]) {
      for (const p of r.paths) {
        if (p.outcome === 'throw') continue;
        const bad = earlyUnmap(a, p);
        if (bad === undefined) continue;
        const { unmap, later } = bad;
        out.push({
          node: blame(a, unmap.node, unmap.stack),
          message:
            `${r.name}: \`${unmap.target}.dmaUnmap()\` runs before the device translation is revoked ` +
            `(${kernelConditions(p.state)}; \`${later.target}.${later.op}()\` at ${at(blame(a, later.node, later.stack))} comes after it): until the PTE is cleared and the TLB flushed, ` +
            'the device can still reach the page at a DMA address that is no longer mapped. Clear the PTE and flush the TLB first, then unmap',
        });
      }
    }
    return out;
  },
};
