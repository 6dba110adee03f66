import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EAGAIN,
  firstRunnable,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  type Kernel,
  MmuIntervalNotifier,
  MmuNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  mmuNotifierRegister,
  mmuNotifierUnregister,
  ULONG_MAX,
} from '@hmmlab/core';
import { type Binding, Device, defineDriver, hmmRangeFaultLoop, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';
import { KERNEL_WARNS, RULED_WARNS } from './kernel-facts.js';

/**
 * What the mini mirror gets wrong: nothing; a `put_page` without its `get_page` on the page it
 * maps, or a `get_page` never put; a DMA mapping never torn down; a classic notifier whose start fails in blockable ranges too; an interval notifier
 * inserted by a classic notifier's release, while `exit_mmap` tears the mm down (no user
 * reference to it is left).
 */
type Misuse = 'none' | 'put-without-get' | 'get-without-put' | 'dma-map-kept' | 'classic-fails-blockable' | 'insert-in-release';

function mirror(misuse: Misuse) {
  return defineDriver({
    name: `mirror-${misuse}`,
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm): Promise<Binding> {
          const lock = kernel.mutex('mirror lock');
          const mni = new MmuIntervalNotifier('mirror');
          const ps = kernel.pageSize;
          const vm = dev.createVm(mm, {
            fault: (v, f) => {
              const start = f.va - (f.va % ps);
              return hmmRangeFaultLoop({
                mm,
                range: {
                  notifier: mni,
                  notifierSeq: 0,
                  start,
                  end: start + ps,
                  hmmPfns: [0],
                  defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
                  pfnFlagsMask: 0,
                  devPrivateOwner: dev.owner,
                },
                lock: () => lock.lock(),
                unlock: () => lock.unlock(),
                commit(r) {
                  const e = r.hmmPfns[0] as number;
                  const page = hmmPfnToPage(kernel, e);
                  v.setPte(r.start, page, { write: (e & HMM_PFN_WRITE) !== 0 });
                  if (misuse === 'put-without-get') kernel.pages.putPage(page);
                  if (misuse === 'get-without-put') kernel.pages.getPage(page);
                  if (misuse === 'dma-map-kept') dev.dmaMap(page, true);
                },
              });
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end);
              lock.unlock();
              return true;
            },
          });
          const late = new MmuIntervalNotifier('mirror late');
          const classic =
            misuse === 'classic-fails-blockable'
              ? new MmuNotifier({ invalidateRangeStart: () => -EAGAIN }, 'mirror classic')
              : new MmuNotifier(
                  {
                    async release() {
                      if ((await mmuIntervalNotifierInsert(late, mm, 0, ps, { invalidate: () => true })) === 0) {
                        await mmuIntervalNotifierRemove(late);
                      }
                    },
                  },
                  'mirror classic',
                );
          if (misuse === 'classic-fails-blockable' || misuse === 'insert-in-release') await mmuNotifierRegister(classic, mm);
          return {
            vms: [vm],
            async unbind() {
              if (misuse === 'classic-fails-blockable' || misuse === 'insert-in-release') await mmuNotifierUnregister(classic, mm);
              await mmuIntervalNotifierRemove(mni);
              await lock.lock();
              vm.clearRange(0, ULONG_MAX);
              vm.flushTlb(0, ULONG_MAX);
              lock.unlock();
              vm.destroy();
            },
          };
        },
      };
    },
  });
}

/** The device writes a page, then the CPU discards it; at the end the process exits and the device file closes. */
const writeThenDiscard: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 3 }] },
    { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
  ],
  exitAtEnd: true,
};

const check = (misuse: Misuse) => checkScenario(mirror(misuse), writeThenDiscard, { decisions: firstRunnable });

describe('kernel WARNs, bad page states and page leaks reached through the driver', () => {
  it('should report kernel-warn for a put_page without its get_page that frees a page the CPU still maps', async () => {
    const r = await check('put-without-get');
    const v = r.violations.find((x) => x.rule === 'kernel-warn');
    expect(v?.explanation).toMatch(/freed with mapcount 1: the kernel reports a bad page state, "nonzero mapcount" \(mm\/page_alloc\.c/);
  });

  it('should report leak-at-exit for a get_page never put: the page outlives every process', async () => {
    const r = await check('get-without-put');
    expect(r.violations.map((x) => x.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /^1 system page\(s\) still referenced after every process exited and every device file closed, first pfn \d+ \(refcount 1, mapcount 0\)/,
    );
  });

  it('should report leak-at-exit for a DMA mapping of a page-cache page never torn down: nothing frees the page', async () => {
    const fileWrite: Scenario = {
      regions: [{ pages: 1, prot: 'rw', share: 'shared', backing: 'file', populate: 'write' }],
      tasks: [{ kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 3 }] }],
      exitAtEnd: true,
    };
    const r = await checkScenario(mirror('dma-map-kept'), fileWrite, { decisions: firstRunnable });
    expect(r.violations.map((x) => x.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /^gpu0: 1 DMA mapping\(s\) still in place after every process exited and every device file closed/,
    );
    const fixed = await checkScenario(mirror('none'), fileWrite, { decisions: firstRunnable });
    expect(fixed.violations).toEqual([]);
  });

  it('should report false-while-blockable for a classic invalidate_range_start that fails in a blockable range', async () => {
    const r = await check('classic-fails-blockable');
    const v = r.violations.find((x) => x.rule === 'false-while-blockable');
    expect(v?.explanation).toContain('"mirror classic" invalidate_range_start returned -11 in a blockable context');
    expect(v?.explanation).toContain('mn_hlist_invalidate_range_start');
  });

  it('should report kernel-warn for an interval notifier inserted on an mm whose last user is gone', async () => {
    const r = await check('insert-in-release');
    expect(r.violations.map((x) => x.rule)).toEqual(['kernel-warn']);
    expect(r.violations[0]?.explanation).toContain('__mmu_interval_notifier_insert');
  });

  it('should pass the same run of the mirror that misuses nothing', async () => {
    const r = await check('none');
    expect(r).toKeepFlushContract();
    expect(r.violations).toEqual([]);
  });
});

describe('the warnings of the model', () => {
  /** Names of the warnings the model's sources emit: `warn('name', …)` (up to the detail's template) and `what: 'name'`. */
  function emitted(): Set<string> {
    const names = new Set<string>();
    const roots = ['../../../../core/src', '../../../../harness/src'].map((r) => fileURLToPath(new URL(r, import.meta.url)));
    for (const root of roots) {
      for (const f of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
        if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.includes('test-')) continue;
        const src = readFileSync(join(root, f), 'utf8');
        for (const m of src.matchAll(/\.warn\(([^`]*?)`/gs))
          for (const n of (m[1] as string).matchAll(/'([a-z-]+)'/g)) names.add(n[1] as string);
        for (const m of src.matchAll(/type: 'warn', what: '([a-z-]+)'/g)) names.add(m[1] as string);
      }
    }
    return names;
  }

  it('should map every warning the model emits to a rule, so none goes unreported', () => {
    const names = emitted();
    expect(names.size).toBeGreaterThanOrEqual(10);
    expect([...names].filter((n) => !RULED_WARNS.has(n) && !Object.hasOwn(KERNEL_WARNS, n))).toEqual([]);
  });
});
