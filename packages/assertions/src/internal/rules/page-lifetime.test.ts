import { firstRunnable, type Kernel, type Page } from '@hmmlab/core';
import { Device, defineDriver, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import '../../vitest.js';
import { checkScenario } from '../check.js';

/**
 * A driver whose `copy` command copies one page into another with the device's copy engine, the
 * way `copyOrder` says: both pages live (correct), the source freed before the copy (a copy left
 * running past `migrate_vma_finalize`), or the destination freed before it.
 */
function copier(copyOrder: 'live' | 'source-freed' | 'destination-freed') {
  return defineDriver({
    name: `copier-${copyOrder}`,
    commands: ['copy'],
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm) {
          return {
            vms: [dev.createVm(mm, {})],
            async command() {
              const src: Page = kernel.pages.allocPage();
              const dst: Page = kernel.pages.allocPage();
              if (copyOrder === 'source-freed') kernel.pages.putPage(src);
              if (copyOrder === 'destination-freed') kernel.pages.putPage(dst);
              dev.copyPage(dst, src);
              if (copyOrder !== 'source-freed') kernel.pages.putPage(src);
              if (copyOrder !== 'destination-freed') kernel.pages.putPage(dst);
              return 0;
            },
          };
        },
      };
    },
  });
}

const oneCopy: Scenario = {
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon' }],
  tasks: [{ kind: 'driver', ops: [{ op: 'command', name: 'copy', region: 0, page: 0, pages: 1 }] }],
};

describe('a copy of a free page', () => {
  it.each([
    ['source-freed', 'reads'],
    ['destination-freed', 'writes'],
  ] as const)('should report freed-page-mapped when the copy %s', async (order, role) => {
    const r = await checkScenario(copier(order), oneCopy, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['freed-page-mapped']);
    expect(r.violations[0]?.explanation).toMatch(
      new RegExp(`^gpu0 copies pfn \\d+ to pfn \\d+, but pfn \\d+, which the copy ${role}, was freed at step \\d+`),
    );
  });

  it('should pass the copy between two live pages', async () => {
    const r = await checkScenario(copier('live'), oneCopy, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});
