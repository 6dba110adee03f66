import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatTables } from '../internal/tables.js';
import { tempDir } from '../internal/testing/temp.js';
import { RULES } from '../rules/all.js';
import { isCTarget } from './analyze.js';
import { explainCCommand, initFromCCommand, lintCCommand } from './commands.js';
import { explainC, lintC } from './lint-c.js';
import { C_RULES } from './rules.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.c`, import.meta.url));
const findings = async (name: string) => (await lintC([fixture(name)])).findings;

/** Lints the text of a fixture after one edit (the edit must apply). */
async function lintEdited(name: string, from: string, to: string) {
  const text = readFileSync(fixture(name), 'utf8');
  const edited = text.replace(from, to);
  expect(edited).not.toBe(text);
  const dir = tempDir('c-lint');
  try {
    writeFileSync(join(dir.path, `${name}.c`), edited);
    return (await lintC([join(dir.path, `${name}.c`)])).findings;
  } finally {
    dir.dispose();
  }
}

describe('lint on kernel C', () => {
  it('should run the same rule ids as the TypeScript checker, in the same order', () => {
    expect(C_RULES.map((r) => [r.id, r.severity])).toEqual(RULES.map((r) => [r.id, r.severity]));
  });

  it.each(C_RULES.map((r) => [r.id, r.severity]))('should report %s once on its firing fixture, as an %s', async (id, severity) => {
    const f = (await findings(`${id}.bad`)).filter((x) => x.rule === id);
    expect(f).toHaveLength(1);
    expect(f[0]?.severity).toBe(severity);
    expect(f[0]?.file).toMatch(new RegExp(`fixtures/${id}\\.bad\\.c$`));
  });

  it.each(C_RULES.map((r) => r.id))('should report nothing at all on the silent fixture of %s', async (id) => {
    expect(await findings(`${id}.good`)).toEqual([]);
  });

  describe("a device page table in an xarray the callback erases from (test_hmm's dmirror->pt)", () => {
    it('should report nothing on the fault path that stores into it under the lock after the retry check', async () => {
      expect(await findings('retry-outside-lock.xarray')).toEqual([]);
    });

    it('should report the store made after the lock was dropped', async () => {
      const f = await lintEdited(
        'retry-outside-lock.xarray',
        '\tret = fx_do_fault(fx, range);\n\n\tmutex_unlock(&fx->mutex);\n',
        '\tmutex_unlock(&fx->mutex);\n\tret = fx_do_fault(fx, range);\n',
      );
      expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['45 retry-outside-lock']);
      expect(f[0]?.message).toMatch(/^the device is programmed \(xa_store\) after `fx->mutex` was released/);
    });

    it('should report the store on a path that never checks mmu_interval_read_retry', async () => {
      const f = await lintEdited(
        'retry-outside-lock.xarray',
        '\t\tif (mmu_interval_read_retry(range->notifier, range->notifier_seq)) {\n\t\t\tmutex_unlock(&fx->mutex);\n\t\t\tcontinue;\n\t\t}\n',
        '',
      );
      expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['45 retry-outside-lock']);
      expect(f[0]?.message).toMatch(/never checked mmu_interval_read_retry/);
    });

    it('should not take a store into an xarray no callback erases from for programming the device', async () => {
      // The store after the unlock, and the callback's erase turned into a call of its own.
      const text = readFileSync(fixture('retry-outside-lock.xarray'), 'utf8')
        .replace(
          '\tret = fx_do_fault(fx, range);\n\n\tmutex_unlock(&fx->mutex);\n',
          '\tmutex_unlock(&fx->mutex);\n\tret = fx_do_fault(fx, range);\n',
        )
        .replace('\t\txa_erase(&fx->pt, pfn);\n', '\t\tfx_forget(fx, pfn);\n');
      const dir = tempDir('c-lint-xarray');
      try {
        writeFileSync(join(dir.path, 'fx.c'), text);
        expect((await lintC([join(dir.path, 'fx.c')])).findings).toEqual([]);
      } finally {
        dir.dispose();
      }
    });
  });

  describe('a device method that says by a constant among its arguments that it clears (nouveau PFNCLR, mlx5 UMR ZAP)', () => {
    const zapAndFlush = '\tfx_dev_zap_range(fx->dev, range->start, range->end);\n\tfx_dev_flush_tlb(fx->dev, range->start, range->end);\n';
    const revokes = async (call: string) =>
      (await lintEdited('revoke-without-dirty.bad', zapAndFlush, `\t${call};\n`)).map((x) => `${x.line} ${x.rule}`);

    it.each([
      ['nvif_object_mthd(&fx->dev->vmm, NVIF_VMM_V0_PFNCLR, range->start, range->end)'],
      ['fx_umr_update_xlt(fx->dev, range->start, range->end, FX_UPD_XLT_ZAP | FX_UPD_XLT_ATOMIC)'],
    ])('should take %s for a whole invalidation: revoked and not dirtied, flushed by the method', async (call) => {
      expect(await revokes(call)).toEqual(['42 revoke-without-dirty']);
    });

    it.each([
      ['nvif_object_mthd(&fx->dev->vmm, NVIF_VMM_V0_PFNMAP, range->start, range->end)'],
      ['fx_update_stats(fx->dev, MMU_NOTIFY_UNMAP, range->start)'],
      ['fx_trace_event(fx->dev, FX_EVENT_ZAP)'],
    ])('should not take %s for a revoke', async (call) => {
      expect(await revokes(call)).toEqual([]);
    });
  });

  it('should take a field written before the notifier is inserted as ordered before its callbacks, and one written after as racing', async () => {
    const publish = (writeFirst: boolean) => {
      const write = '\tfx->start = start;\n';
      const insert = '\tret = mmu_interval_notifier_insert(&fx->notifier, mm, start, len, &fx_ops);\n';
      return `${[
        'struct fx {\n\tstruct mmu_interval_notifier notifier;\n\tstruct mutex lock;\n\tstruct fx_dev *dev;\n\tunsigned long start;\n};\n',
        'static bool fx_invalidate(struct mmu_interval_notifier *mni, const struct mmu_notifier_range *range, unsigned long cur_seq)\n{',
        '\tstruct fx *fx = container_of(mni, struct fx, notifier);\n\tunsigned long s = fx->start;\n',
        '\tif (!mmu_notifier_range_blockable(range))\n\t\treturn false;\n\tmutex_lock(&fx->lock);\n\tmmu_interval_set_seq(mni, cur_seq);',
        '\tfx_dev_zap_range(fx->dev, s, range->end);\n\tfx_dev_flush_tlb(fx->dev, s, range->end);\n\tmutex_unlock(&fx->lock);\n\treturn true;\n}\n',
        'static const struct mmu_interval_notifier_ops fx_ops = {\n\t.invalidate = fx_invalidate,\n};\n',
        'int fx_bind(struct fx *fx, struct mm_struct *mm, unsigned long start, unsigned long len)\n{\n\tint ret;\n\n',
        writeFirst ? write + insert : insert + write,
        '\tif (ret)\n\t\treturn ret;\n\tmmu_interval_read_begin(&fx->notifier);\n\treturn 0;\n}\n',
      ].join('\n')}`;
    };
    const dir = tempDir('c-lint-publish');
    try {
      const rules = async (writeFirst: boolean) => {
        writeFileSync(join(dir.path, 'fx.c'), publish(writeFirst));
        return (await lintC([join(dir.path, 'fx.c')])).findings.map((f) => f.rule);
      };
      expect(await rules(true)).toEqual([]);
      expect(await rules(false)).toEqual(['unshared-driver-state']);
    } finally {
      dir.dispose();
    }
  });

  it('should list a function with more paths than it follows, as text and as JSON, and not a twin with few', async () => {
    // Each `if` doubles the fault path's paths: ten give 1,024, past the budget; three give 8.
    const dir = tempDir('c-lint-budget');
    try {
      const text = readFileSync(fixture('retry-outside-lock.good'), 'utf8');
      const withIfs = (n: number) =>
        text.replace(
          '\tint ret;\n',
          `\tint ret;\n\n${Array.from({ length: n }, (_, i) => `\tif (fx->a${i})\n\t\tfx->n${i}++;\n`).join('')}`,
        );
      writeFileSync(join(dir.path, 'many.c'), withIfs(10));
      writeFileSync(join(dir.path, 'few.c'), withIfs(3));
      const many = await lintCCommand({ paths: [join(dir.path, 'many.c')], cwd: dir.path });
      expect(many.exitCode).toBe(0);
      expect(many.stdout).toMatch(
        /^note: 1 function\(s\) have more paths than lint follows; the paths past the budget were not checked:\n {2}many\.c:12 {2}fx_fault\nno findings\n/,
      );
      const json = JSON.parse((await lintCCommand({ paths: [join(dir.path, 'many.c')], cwd: dir.path, json: true })).stdout);
      expect(json.incomplete).toEqual([{ name: 'fx_fault', file: 'many.c', line: 12 }]);
      const few = await lintCCommand({ paths: [join(dir.path, 'few.c')], cwd: dir.path, json: true });
      expect(JSON.parse(few.stdout)).toMatchObject({ findings: [], incomplete: [] });
    } finally {
      dir.dispose();
    }
  });

  it('should take a call whose value initialises a pointer for an accessor, not for invalidating work (to_i915, amdgpu_ttm_adev)', async () => {
    const f = await lintEdited(
      'true-when-nonblockable.bad',
      '\tstruct fx *fx = container_of(mni, struct fx, notifier);\n',
      '\tstruct fx *fx = container_of(mni, struct fx, notifier);\n\tstruct fx_dev *dev = to_fx_dev(fx);\n',
    );
    expect(f.map((x) => x.rule)).toEqual(['true-when-nonblockable']);
  });

  it('should report an interval callback that never calls mmu_interval_set_seq while the fault path checks the sequence', async () => {
    const f = await lintEdited('owner-without-event.good', '\tmmu_interval_set_seq(mni, cur_seq);\n', '');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['31 skip-before-set-seq']);
    expect(f[0]?.message).toMatch(
      /^fx_ops\.invalidate never calls mmu_interval_set_seq, on any path, while the driver checks mmu_interval_read_retry \(owner-without-event\.good\.c:22\)/,
    );
  });

  it('should forget what a path decided of a variable once it is assigned again', async () => {
    // `ret` was 0 after hmm_range_fault; a second call's result tested with `if (ret)` is a new decision.
    const f = await lintEdited(
      'owner-without-event.good',
      '\tfx_dev_map_range(fx->dev, range);\n\tmutex_unlock(&fx->lock);\n',
      '\tret = fx_dev_map_range(fx->dev, range);\n\tif (ret)\n\t\treturn ret;\n\tmutex_unlock(&fx->lock);\n',
    );
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['28 lock-leak']);
  });

  it('should take a DMA mapping made before the retry check as no device programming, and one made after the unlock as one', async () => {
    const before = await lintEdited(
      'owner-without-event.good',
      '\tif (ret)\n\t\treturn ret;\n\tmutex_lock(&fx->lock);\n',
      '\tif (ret)\n\t\treturn ret;\n\tdma_map_page(fx->dev, range);\n\tmutex_lock(&fx->lock);\n',
    );
    expect(before).toEqual([]);
    const after = await lintEdited(
      'owner-without-event.good',
      '\tfx_dev_map_range(fx->dev, range);\n\tmutex_unlock(&fx->lock);\n',
      '\tmutex_unlock(&fx->lock);\n\tdma_map_page(fx->dev, range);\n',
    );
    expect(after.map((x) => x.rule)).toEqual(['retry-outside-lock']);
    expect(after[0]?.message).toMatch(/programmed \(dma_map_page\) after `fx->lock` was released/);
  });

  it.each([
    ['NULL != range->owner', /its only test of the owner, `NULL != range->owner`, holds for other owners too/],
    ['range->owner', /its only test of the owner, `range->owner`, holds/],
    ['!!range->owner', /its only test of the owner, `range->owner`, holds/],
    ['1', /MMU_NOTIFY_MIGRATE, blockable, and never tests range->owner/],
    ['range->owner != fx->owner', /when range->event is MMU_NOTIFY_MIGRATE, the owner is not its own, blockable: another/],
  ])('should report a migration skip the owner does not restrict to its own device: %s', async (test, message) => {
    const f = await lintEdited('skip-any-owner.bad', 'range->owner != NULL', test);
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['42 skip-any-owner']);
    expect(f[0]?.message).toMatch(message);
  });

  it.each([
    [
      'owner-without-event.bad',
      'owner-without-event',
      37,
      /`range->owner == fx->owner` tests the owner while range->event may be any event/,
    ],
    ['skip-before-set-seq.bad', 'skip-before-set-seq', 38, /without mmu_interval_set_seq when fx->idle is true/],
    ['set-seq-outside-lock.bad', 'set-seq-outside-lock', 37, /without `lock` held \(it holds no lock\)/],
    ['retry-outside-lock.bad', 'retry-outside-lock', 21, /checked without `lock` held/],
    [
      'retry-outside-lock.released',
      'retry-outside-lock',
      27,
      /programmed \(fx_dev_map_range\) after `fx->lock` was released .* at retry-outside-lock\.released\.c:22/,
    ],
    [
      'retry-outside-lock.partial',
      'retry-outside-lock',
      26,
      /programmed \(fx_dev_map_range\) on a path that read the notifier sequence at retry-outside-lock\.partial\.c:17 and never checked/,
    ],
    [
      'retry-outside-lock.late-begin',
      'retry-outside-lock',
      22,
      /mmu_interval_read_retry checks the sequence mmu_interval_read_begin read at retry-outside-lock\.late-begin\.c:18, after hmm_range_fault at retry-outside-lock\.late-begin\.c:17/,
    ],
    ['sleep-when-nonblockable.bad', 'sleep-when-nonblockable', 37, /`mutex_lock\(\)` may sleep/],
    ['true-when-nonblockable.bad', 'true-when-nonblockable', 38, /or return false/],
    [
      'lock-leak.bad',
      'lock-leak',
      43,
      /returns true \(when blockable, fx->dead is true\) with `fx->lock` \(taken at lock-leak\.bad\.c:38\)/,
    ],
    ['lock-leak.goto', 'lock-leak', 49, /fx->dead is true\) with `fx->lock`/],
    [
      'event-fallthrough.bad',
      'event-fallthrough',
      51,
      /MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFY_SOFT_DIRTY, MMU_NOTIFY_RELEASE fall through/,
    ],
    ['clear-without-flush.bad', 'clear-without-flush', 43, /fx_ops\.invalidate returns after `fx_dev_zap_range\(\)` .* with no TLB flush/],
    [
      'dma-unmap-while-mapped.bad',
      'dma-unmap-while-mapped',
      42,
      /`fx_dev_zap_range\(\)` at dma-unmap-while-mapped\.bad\.c:44 comes after it/,
    ],
    [
      'remove-in-callback.bad',
      'remove-in-callback',
      47,
      /^fx_ops\.invalidate calls mmu_interval_notifier_remove: it waits \(wait_event on subscriptions->wq\) for the invalidation in progress/,
    ],
    [
      'remove-in-callback.under-lock',
      'remove-in-callback',
      59,
      /^fx_destroy calls mmu_interval_notifier_remove holding `fx->lock` \(taken at remove-in-callback\.under-lock\.c:55\), which fx_ops\.invalidate takes/,
    ],
    [
      'remove-in-callback.flush-work',
      'remove-in-callback',
      56,
      /^fx_ops\.invalidate waits in flush_work\(\) for the work item `&fx->remove_work`, whose function fx_remove_work_fn calls mmu_interval_notifier_remove/,
    ],
  ])('should place and explain the finding of %s', async (name, rule, line, message) => {
    const f = (await findings(name)).filter((x) => x.rule === rule);
    expect(f).toEqual([expect.objectContaining({ line, message: expect.stringMatching(message) })]);
  });

  it('should report mmu_notifier_unregister from release and under the lock start takes, and not mmu_notifier_put', async () => {
    const f = await findings('remove-in-callback.unregister');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['32 remove-in-callback', '45 remove-in-callback']);
    expect(f[1]?.message).toMatch(/which fx_mn_ops\.invalidate_range_start takes at remove-in-callback\.unregister\.c:15/);
    const put = await lintEdited('remove-in-callback.unregister', '\tmmu_notifier_unregister(mn, mm); /*', '\tmmu_notifier_put(mn); /*');
    expect(put.map((x) => `${x.line} ${x.rule}`)).toEqual(['45 remove-in-callback']);
    const released = await lintEdited(
      'remove-in-callback.unregister',
      '\tmmu_notifier_unregister(&fx->mn, mm); /* BUG: a start in progress waits for the lock */\n\tmutex_unlock(&fx->lock);\n',
      '\tmutex_unlock(&fx->lock);\n\tmmu_notifier_unregister(&fx->mn, mm);\n',
    );
    expect(released.map((x) => `${x.line} ${x.rule}`)).toEqual(['32 remove-in-callback']);
  });

  // amdkfd's deferred list work removes holding `svms->lock` (struct svm_range_list); its callback takes `pchild->lock` (struct svm_range).
  it('should not take a lock of another struct with the same last name for the lock the callback takes', async () => {
    const destroy = (param: string, lock: string) =>
      `void fx_destroy(${param})\n{\n\tmutex_lock(&${lock});\n\tfx->dead = true;\n\tfx_dev_zap_range(fx->dev, 0, ULONG_MAX);\n` +
      `\tfx_dev_flush_tlb(fx->dev, 0, ULONG_MAX);\n\tmmu_interval_notifier_remove(&fx->notifier); /* BUG: an invalidation in progress waits for the lock */\n` +
      `\tmutex_unlock(&${lock});\n}`;
    const f = await lintEdited(
      'remove-in-callback.under-lock',
      destroy('struct fx *fx', 'fx->lock'),
      destroy('struct fx *fx, struct fx_list *list', 'list->lock'),
    );
    expect(f).toEqual([]);
  });

  it('should not report a callback that only queues the work item that removes the notifier', async () => {
    const f = await lintEdited(
      'remove-in-callback.flush-work',
      "\t\tflush_work(&fx->remove_work); /* BUG: the work's remove waits for this callback */\n",
      '',
    );
    expect(f).toEqual([]);
  });

  it('should report nothing on a correct driver written with guard, scoped_guard, a loop macro, goto unwinding and helpers', async () => {
    expect(await findings('correct-kernel-c')).toEqual([]);
  });

  it('should follow the static helpers, the loop macro and scoped_guard of the correct driver (its twins fire)', async () => {
    const noFlush = await lintEdited('correct-kernel-c', '\tfx_dev_flush_tlb(fx->dev, update->start, update->end);\n}', '}');
    expect(noFlush.map((f) => [f.rule, f.line])).toEqual([['clear-without-flush', 30]]);
    // The helper's `update` is the callback's range: its event is followed into the helper.
    const noSeq = await lintEdited(
      'correct-kernel-c',
      '\tmmu_interval_set_seq(mni, seq);\n',
      '\tif (update->event != MMU_NOTIFY_CLEAR)\n\t\tmmu_interval_set_seq(mni, seq);\n',
    );
    expect(noSeq.map((f) => [f.rule, f.message.match(/range->event is \w+/)?.[0]])).toEqual([
      ['skip-before-set-seq', 'range->event is MMU_NOTIFY_CLEAR'],
    ]);
    const leak = await lintEdited('correct-kernel-c', '\tmutex_unlock(&fx->lock);\n\treturn true;\n}', '\treturn true;\n}');
    expect(leak.map((f) => f.rule)).toEqual(['lock-leak']);
  });

  // gntdev's unmap_grant_pages: a count set to 0, moved by `++` in a loop, tested after it.
  it('should know that a local moved by ++ or -- no longer holds the value it was set to', async () => {
    const counted = (zap: string) => `\tint n = 0;\n\twhile (n < 4 && fx->dev)\n\t\tn++;\n\tif (n)\n\t\t${zap}\n`;
    const zap = '\tfx_dev_zap_range(fx->dev, range->start, range->end);\n';
    const bad = await lintEdited('clear-without-flush.bad', zap, counted('fx_dev_zap_range(fx->dev, range->start, range->end);'));
    expect(bad.map((f) => f.rule)).toEqual(['clear-without-flush']);
    const good = await lintEdited(
      'clear-without-flush.good',
      `${zap}\tfx_dev_flush_tlb(fx->dev, range->start, range->end);\n`,
      counted('{ fx_dev_zap_range(fx->dev, range->start, range->end); fx_dev_flush_tlb(fx->dev, range->start, range->end); }'),
    );
    expect(good).toEqual([]);
  });

  it('should hold a guard() lock to the end of its block, and know that guard(mutex) sleeps', async () => {
    const sleeps = await lintEdited(
      'correct-kernel-c',
      '\tif (!mmu_notifier_range_blockable(update))\n\t\treturn -EAGAIN;\n\tguard',
      '\tguard',
    );
    expect(sleeps.map((f) => [f.rule, f.line])).toEqual([['sleep-when-nonblockable', 69]]);
  });

  it('should follow goto unwinding to the label that releases the lock', async () => {
    const skipUnlock = await lintEdited('correct-kernel-c', 'out_unlock:\n\tmutex_unlock(&fx->lock);\n', 'out_unlock:\n');
    expect(skipUnlock.map((f) => f.rule)).toEqual(['lock-leak']);
  });

  it('should print the decision table of each invalidate callback: event × owner × blockable → set_seq, flushes, return', async () => {
    const r = await explainC([fixture('correct-kernel-c')], formatTables);
    expect(r.tables.map((t) => [t.callback, t.kind])).toEqual([
      ['fx_ops.invalidate', 'interval'],
      ['fx_mn_ops.invalidate_range_start', 'start'],
    ]);
    const rows = r.tables[0]?.rows.map((x) => [x.event, x.owner, x.blockable, x.setSeq, x.returns]);
    expect(rows).toEqual([
      ['MMU_NOTIFY_EXCLUSIVE', 'own', 'yes', false, 'true'],
      ['MMU_NOTIFY_UNMAP', 'any', 'no', false, 'false'],
      ['MMU_NOTIFY_EXCLUSIVE', 'not own', 'yes', true, 'true'],
      ['not MMU_NOTIFY_EXCLUSIVE', 'any', 'yes', true, 'true'],
      ['MMU_NOTIFY_UNMAP', 'any', 'no', true, 'true'],
    ]);
    // fx_lock only takes the lock: the helpers that reach the device are listed.
    expect(r.tables[0]?.rows[2]?.flushes).toEqual(['fx_update(fx)']);
    expect(r.tables[0]?.rows[1]?.state).toEqual([{ test: 'mutex_trylock(&fx->lock)', value: false }]);
    expect(r.tables[1]?.rows.map((x) => [x.blockable, x.returns])).toEqual([
      ['no', '-EAGAIN'],
      ['yes', '0'],
    ]);
    expect(r.text).toMatch(/fixtures\/correct-kernel-c\.c:\d+ fx_ops\.invalidate \(interval notifier invalidate\)/);
  });

  // i915's userptr callback revokes by waiting for the GPU (dma_resv_wait_timeout); mlx5's and
  // i915's read accessors (ib_umem_start(), to_i915()) that are not device work.
  it('should list device waits among the flushes, and leave out calls whose value is an operand or a pointer', async () => {
    const dir = tempDir('c-explain');
    try {
      const text = readFileSync(fixture('clear-without-flush.good'), 'utf8')
        .replace(
          '\tfx_dev_flush_tlb(fx->dev, range->start, range->end);\n',
          '\tdma_resv_wait_timeout(fx->resv, DMA_RESV_USAGE_BOOKKEEP, false, MAX_SCHEDULE_TIMEOUT);\n',
        )
        .replace(
          '\tstruct fx *fx = container_of(mni, struct fx, notifier);\n',
          '\tstruct fx *fx = container_of(mni, struct fx, notifier);\n\tstruct fx_dev *dev = to_fx_dev(fx->dev);\n\tunsigned long start = max(fx_start(fx), range->start);\n',
        );
      writeFileSync(join(dir.path, 'waits.c'), text);
      const r = await explainC([join(dir.path, 'waits.c')], formatTables);
      const flushes = r.tables[0]?.rows.map((x) => x.flushes);
      expect(flushes).toContainEqual(['fx_dev_dirty_range(fx->dev)', 'fx_dev_zap_range(fx->dev)', 'dma_resv_wait_timeout(fx->resv)']);
      expect(flushes?.flat().some((f) => /to_fx_dev|fx_start/.test(f))).toBe(false);
    } finally {
      dir.dispose();
    }
  });
});

describe('the C commands', () => {
  it('should take .c files and folders of C as C, and TypeScript folders as TypeScript', () => {
    const dir = fileURLToPath(new URL('./fixtures', import.meta.url));
    expect(isCTarget([fixture('lock-leak.bad')])).toBe(true);
    expect(isCTarget([dir])).toBe(true);
    expect(isCTarget([fileURLToPath(new URL('../rules/fixtures', import.meta.url))])).toBe(false);
    expect(isCTarget([])).toBe(false);
  });

  it('should take a folder whose C sources sit deep in it as C, and one with TypeScript above them as TypeScript', () => {
    const dir = tempDir('c-deep');
    try {
      const deep = join(dir.path, 'drivers', 'gpu', 'drm', 'amd', 'amdkfd');
      mkdirSync(deep, { recursive: true });
      copyFileSync(fixture('lock-leak.bad'), join(deep, 'kfd_svm.c'));
      expect(isCTarget([dir.path])).toBe(true);
      writeFileSync(join(dir.path, 'drivers', 'driver.ts'), 'export {};\n');
      expect(isCTarget([dir.path])).toBe(false);
    } finally {
      dir.dispose();
    }
  });

  it('should print findings as file:line severity rule message, then totals; exit 1 on an error', async () => {
    const r = await lintCCommand({ paths: [fixture('lock-leak.bad')] });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/fixtures\/lock-leak\.bad\.c:43 {2}error {2}lock-leak {2}fx_ops\.invalidate returns true/);
    expect(r.stdout).toMatch(
      /1 error\(s\), 0 warning\(s\)\n1 C file\(s\) read, 1 using the notifier API parsed, 1 callback\(s\) and 1 fault path\(s\) checked in/,
    );
    const ok = await lintCCommand({ paths: [fixture('lock-leak.good')], json: true });
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ findings: [], stats: { files: 1, parsed: 1, callbacks: 1, faultPaths: 1 } });
  });

  it('should say in one line, exit 2, what is wrong with the arguments', async () => {
    expect(await lintCCommand({ paths: ['no/such/file.c'] })).toEqual({
      exitCode: 2,
      stdout: 'hmmlab lint: no such file or folder: no/such/file.c; pass an existing driver file or folder\n',
    });
    expect((await explainCCommand({ paths: [] })).stdout).toBe(
      'hmmlab explain: no paths given; for example: hmmlab explain lib/test_hmm.c\n',
    );
    expect((await initFromCCommand({ dir: 'x' })).exitCode).toBe(2);
    expect(await lintC([fixture('lock-leak.bad')], { rules: ['no-such-rule'] }).catch((e: Error) => e.message)).toMatch(
      /lint: unknown rule "no-such-rule"; expected one of owner-without-event/,
    );
  });

  it('should explain a C file as text and as JSON', async () => {
    const r = await explainCCommand({ paths: [fixture('skip-before-set-seq.good')], json: true });
    const tables = JSON.parse(r.stdout).tables as { callback: string; rows: unknown[] }[];
    expect(tables.map((t) => t.callback)).toEqual(['fx_ops.invalidate']);
    expect((await explainCCommand({ paths: [fixture('skip-before-set-seq.good')] })).stdout).toMatch(/# +event +owner +blockable/);
  });
});
