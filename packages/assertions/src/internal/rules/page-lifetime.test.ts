import {
  firstRunnable,
  type Kernel,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type Page,
} from '@hmmlab/core';
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

/**
 * A driver whose `migrate` command moves one page to a new system page with `migrate_vma_*`, and
 * puts the destination page after `migrate_vma_pages` (the bug: finalize then maps a free page) or
 * leaves it to the migration (correct).
 */
function migrator(putsDestination: boolean) {
  return defineDriver({
    name: `migrator-${putsDestination ? 'puts-destination' : 'correct'}`,
    commands: ['migrate'],
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm) {
          return {
            vms: [dev.createVm(mm, {})],
            async command(_name: string, start: number, end: number) {
              await mm.mmapLock.downRead();
              const vma = mm.findVma(start) ?? null;
              const args = new MigrateVma({ vma, start, end, src: [0], dst: [0] });
              args.flags = MIGRATE_VMA_SELECT_SYSTEM;
              if ((await migrateVmaSetup(args)) !== 0) {
                mm.mmapLock.upRead();
                return -1;
              }
              const spage = migratePfnToPage(kernel, args.src[0] as number);
              let dpage: Page | null = null;
              if (spage !== null && ((args.src[0] as number) & MIGRATE_PFN_MIGRATE) !== 0) {
                dpage = kernel.pages.allocPage();
                await kernel.pages.lockPage(dpage);
                dev.copyPage(dpage, spage);
                args.dst[0] = migratePfn(dpage.pfn);
              }
              await migrateVmaPages(args);
              if (putsDestination && dpage !== null) {
                kernel.pages.unlockPage(dpage);
                kernel.pages.putPage(dpage);
              }
              migrateVmaFinalize(args);
              mm.mmapLock.upRead();
              return 0;
            },
          };
        },
      };
    },
  });
}

describe('a migration destination freed before migrate_vma_finalize', () => {
  const oneMigration: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [{ kind: 'driver', ops: [{ op: 'command', name: 'migrate', region: 0, page: 0, pages: 1 }] }],
  };

  it('should report freed-page-mapped, naming the migration that maps the free destination', async () => {
    const r = await checkScenario(migrator(true), oneMigration, { decisions: firstRunnable });
    expect(r.violations[0]?.rule).toBe('freed-page-mapped');
    expect(r.violations[0]?.explanation).toMatch(
      /^remove_migration_pte maps the migration destination pfn \d+, which is free: the CPU now maps a free, soon reused page\. A destination page handed to migrate_vma_pages belongs to the migration until migrate_vma_finalize/,
    );
  });

  it('should pass the migration that leaves its destination to migrate_vma_finalize', async () => {
    const r = await checkScenario(migrator(false), oneMigration, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});
