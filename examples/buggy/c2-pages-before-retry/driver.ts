/**
 * C2 ("drm/xe/hmm: Don't dereference struct page pointers without notifier lock", 0a98219bcc96):
 * the pages `hmm_range_fault` returned are DMA-mapped (the scatter-gather table is built) before
 * the notifier lock is taken and the sequence checked. An invalidation in between frees a page the
 * device still has DMA-mapped: the callback cannot know about a mapping not yet committed.
 */
import { HMM_PFN_VALID, hmmPfnToPage, type Page } from '@hmmlab/core';
import { hmmRangeFaultLoop } from '@hmmlab/harness';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class PagesBeforeRetry extends SvmMirror {
  override faultRange(start: number, end: number, write: boolean): Promise<number> {
    const range = this.rangeFor(start, end, write);
    const sg: Page[] = [];
    const freeSg = (): void => {
      for (const p of sg.splice(0)) this.device.dmaUnmap(p);
    };
    return hmmRangeFaultLoop({
      mm: this.mm,
      range,
      lock: async () => {
        // C2: xe_build_sg() from hmm_pfn_to_page() before the notifier lock and read_retry.
        for (let i = 0; i < (end - start) / this.kernel.pageSize; i++) {
          const e = range.hmmPfns[i] as number;
          const page = hmmPfnToPage(this.kernel, e);
          if ((e & HMM_PFN_VALID) === 0 || page.isZoneDevice) continue;
          this.device.dmaMap(page, write);
          sg.push(page);
        }
        await this.lock.lock();
      },
      unlock: () => {
        freeSg(); // a retry throws the table away
        this.lock.unlock();
      },
      commit: () => this.commit({ range, write }), // maps the pages again, under the lock
    });
  }
}

export default svmDriver({
  name: 'c2-pages-before-retry',
  description: 'C2: pages from hmm_range_fault are DMA-mapped before the notifier lock and read_retry',
  memoryPages: 0,
  policy: { dma: true },
  mirror: PagesBeforeRetry,
});
