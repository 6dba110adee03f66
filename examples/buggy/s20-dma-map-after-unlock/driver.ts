/**
 * S20 (synthetic; the N3 control with its DMA mapping moved): an on-demand-paging NIC whose device
 * reaches memory only through DMA mappings. The fault path checks `mmu_interval_read_retry`, writes
 * the device entries and records the pages in its DMA table under the notifier lock `L`, then
 * drops `L` and only then DMA-maps the recorded pages (`dma_map_sgtable` kept out of the lock).
 * The invalidate callback, under `L`, unmaps every page the table holds. On another CPU it can run
 * between the unlock and the map: it unmaps handles that do not exist yet, and the mappings made
 * right after survive the invalidation, so the device keeps reaching pages the CPU has let go.
 * No preemption point lies between the unlock and the map, so no interleaving the model runs shows
 * it; happens-before does: the callback's unmap is not ordered after the map it tears down.
 */
import type { Page } from '@hmmlab/core';
import { OdpNothingMapped } from '../controls/n3-nothing-mapped/driver.js';
import { svmDriver } from '../lib/svm-driver.js';

class DmaMapAfterUnlock extends OdpNothingMapped {
  /** While the fault path commits under `L`: the pages recorded, to map once `L` is dropped. */
  private sg: [Page, boolean][] | null = null;

  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    const range = this.rangeFor(start, end, write);
    const sg: [Page, boolean][] = [];
    const r = await this.faultLoop(range, () => {
      sg.length = 0;
      this.sg = sg;
      try {
        return this.commit({ range, write });
      } finally {
        this.sg = null;
      }
    });
    // S20: dma_map_sgtable after L was dropped; the table already names these pages.
    for (const [page, w] of sg) this.device.dmaMap(page, w);
    return r;
  }

  /** With `L` held: records the page in the DMA table (unmapping the one it replaces); the map itself waits. */
  override dmaMapPage(va: number, page: Page, write: boolean): void {
    const sg = this.sg;
    if (sg === null) {
      super.dmaMapPage(va, page, write);
      return;
    }
    const vpn = Math.floor(va / this.kernel.pageSize);
    const old = this.dmaMapped.get(vpn);
    if (old === page) return;
    if (old !== undefined) this.device.dmaUnmap(old);
    this.dmaMapped.set(vpn, page);
    sg.push([page, write]);
  }
}

export default svmDriver({
  name: 's20-dma-map-after-unlock',
  description: 'S20: the pages recorded in the DMA table under the notifier lock are DMA-mapped after it is dropped',
  memoryPages: 0,
  policy: { dma: true },
  mirror: DmaMapAfterUnlock,
});
