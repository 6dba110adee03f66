import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lint } from '../internal/lint.js';
import { tempDir } from '../internal/testing/temp.js';
import { RULES } from './all.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
const rulesOf = (name: string) => lint([fixture(name)]).findings;

describe('lint rules', () => {
  it('should have a stable kebab-case id, a severity and a description each', () => {
    for (const r of RULES) {
      expect(r.id).toMatch(/^[a-z]+(-[a-z]+)+$/);
      expect(['error', 'warning']).toContain(r.severity);
      expect(r.description.length).toBeGreaterThan(20);
    }
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
  });

  it.each(RULES.map((r) => [r.id, r.severity]))(
    'should report %s on its positive fixture, at the offending line, as an %s',
    (id, severity) => {
      const f = rulesOf(`${id}.bad`).filter((x) => x.rule === id);
      expect(f).toHaveLength(1);
      expect(f[0]?.severity).toBe(severity);
      expect(f[0]?.file).toMatch(new RegExp(`fixtures/${id}\\.bad\\.ts$`));
      expect(f[0]?.message.length).toBeGreaterThan(40);
    },
  );

  it.each(RULES.map((r) => r.id))('should report nothing at all on the negative fixture of %s', (id) => {
    expect(rulesOf(`${id}.good`)).toEqual([]);
  });

  it.each([
    'correct-mirror',
    'correct-mirror.alias',
    'correct-mirror.own-loop',
    'correct-mirror.ops-table',
    'correct-mirror.ops-split',
    'correct-mirror.zap-helper',
    'correct-mirror.this-ops',
    'correct-mirror.rest-args',
    'correct-mirror.typed-helper',
    'correct-mirror.ops-factory',
    'correct-mirror.ops-class',
    'correct-mirror.unlock-fn',
    'correct-mirror.destructured',
    'correct-mirror.fence-waited',
    'sleep-when-nonblockable.flags',
  ])('should report nothing on the correct driver %s', (name) => {
    expect(rulesOf(name)).toEqual([]);
  });

  it('should report a fault path that programs the device after hmmRangeFault with no retry check on that path', () => {
    const f = rulesOf('retry-outside-lock.partial');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['61 retry-outside-lock']);
    expect(f[0]?.message).toMatch(/programmed \(setPte\) on a path that read the notifier sequence at retry-outside-lock\.partial\.ts:48/);
  });

  it('should report an asynchronous TLB flush whose fence is dropped, as a statement or through a wait not awaited', () => {
    const f = rulesOf('clear-without-flush.fence-dropped');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['63 clear-without-flush', '65 clear-without-flush']);
    expect(f[0]?.message).toMatch(/issues `vm\.flushTlbAsync\(\)` and drops its fence/);
  });

  it('should report a fault path whose retry check tests a sequence read after hmmRangeFault read the pages', () => {
    const f = rulesOf('retry-outside-lock.late-begin');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['57 retry-outside-lock']);
    expect(f[0]?.message).toMatch(
      /^mmuIntervalReadRetry checks the sequence mmuIntervalReadBegin read at retry-outside-lock\.late-begin\.ts:53, after hmmRangeFault at retry-outside-lock\.late-begin\.ts:50/,
    );
  });

  // drm_gpusvm's shape: the helper's callback calls the driver's op through a table it was given.
  it('should follow a call through an ops table to the op the driver gave, and judge the op in its caller', () => {
    const f = rulesOf('clear-without-flush.ops-table');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['70 clear-without-flush']);
    // Found on the callback's path, not only in the op run alone (which the split twin shows is not enough).
    expect(f[0]?.message).toMatch(/^clear-without-flush\.ops-table\.invalidate returns after `this\.vm\.clearRange\(\)`/);
  });

  it("should follow a method of an object a field's declared type names, when no class extends that type", () => {
    const f = rulesOf('clear-without-flush.typed-helper');
    expect(f.map((x) => x.rule)).toEqual(['clear-without-flush']);
    // On the callback's path through the helper (its twin correct-mirror.typed-helper flushes after the call).
    expect(f[0]?.message).toMatch(/^Mirror\.invalidate returns after `this\.pt\.vm\.clearRange\(\)`/);
  });

  it('should know that a function a helper returned is not null: only the path that forgot to call it leaks', () => {
    const f = rulesOf('lock-leak.unlock-fn');
    expect(f.map((x) => x.rule)).toEqual(['lock-leak']);
    expect(f[0]?.message).toMatch(/^Mirror\.invalidate returns true with `this\.lock`/);
  });

  it("should know a destructured range's event and owner as the range's own", () => {
    expect(rulesOf('owner-without-event.destructured').map((x) => x.rule)).toEqual(['owner-without-event']);
  });

  it.each([
    ['skip-any-owner.bad', /its only test of the owner, `range\.owner != null`, holds for other owners too/],
    ['skip-any-owner.no-test', /MMU_NOTIFY_MIGRATE, blockable, and never tests range\.owner:/],
    ['skip-any-owner.instanceof', /its only test of the owner, `range\.owner instanceof Object`, holds/],
    ['skip-any-owner.destructured', /its only test of the owner, `owner`, holds for other owners too/],
  ])('should report %s: a migration skip that the owner does not restrict to its own device', (name, message) => {
    const f = rulesOf(name);
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual([`${name.endsWith('destructured') ? 59 : 58} skip-any-owner`]);
    expect(f[0]?.message).toMatch(message);
  });

  it("should not report a skip decided by the driver's own state (an empty range, a detached mirror) or a test of the owner for NULL that flushes", () => {
    // nouveau-style's classic callback skips an empty range and a dead VMM for every event.
    expect(lint([fileURLToPath(new URL('../../../../examples/nouveau-style', import.meta.url))]).findings.map((x) => x.rule)).toEqual([
      'skip-before-set-seq',
    ]);
    expect(rulesOf('skip-any-owner.good')).toEqual([]);
  });

  it('should read a list or Set of event constants tested with includes or has as a test of the event', () => {
    const f = rulesOf('event-fallthrough.event-set');
    expect(f.map((x) => `${x.severity} ${x.rule}`)).toEqual(['warning event-fallthrough']);
    expect(f[0]?.message).toMatch(/^MMU_NOTIFY_RELEASE falls through this test of range\.event/);
  });

  // A lock's type comes from its declaration, found through the types of the expressions that
  // reach it: a field of a class stored in a Map or an array, as a driver keeps its ranges, or of
  // an interface.
  // A field may also be null until bind makes its lock (`spare: SpinLock | null`), or name its type
  // through a namespace import (`core.SpinLock`).
  it('should take a spinlock reached through a Map, an array or an interface, or declared nullable or through a namespace, for one that never sleeps, and a mutex so for one that may', () => {
    expect(rulesOf('sleep-when-nonblockable.collections')).toEqual([]);
    const f = rulesOf('sleep-when-nonblockable.collections-mutex');
    expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual([
      '82 sleep-when-nonblockable',
      '88 sleep-when-nonblockable',
      '93 sleep-when-nonblockable',
      '98 sleep-when-nonblockable',
      '103 sleep-when-nonblockable',
    ]);
    expect(f[0]?.message).toMatch(/`element of ranges\.values\(\)\.lock\.lock\(\)` may sleep/);
  });

  it('should see through a const that renames a lock: the renamed lock is the lock, another one is not', () => {
    const f = rulesOf('set-seq-outside-lock.alias');
    expect(f.map((x) => x.rule).sort()).toEqual(['retry-outside-lock', 'set-seq-outside-lock']);
    expect(f.find((x) => x.rule === 'set-seq-outside-lock')?.message).toMatch(/without `other` held \(it holds `lock`\)/);
  });

  it.each([
    ['skip-before-set-seq.bad', 'skip-before-set-seq', 54, /vm\.pt\.size === 0 is true/],
    ['true-when-nonblockable.bad', 'true-when-nonblockable', 54, /return false/],
    ['sleep-when-nonblockable.bad', 'sleep-when-nonblockable', 53, /`lock\.lock\(\)` may sleep/],
    ['lock-leak.bad', 'lock-leak', 57, /returns false with `lock` \(taken at lock-leak\.bad\.ts:55\)/],
    ['set-seq-outside-lock.bad', 'set-seq-outside-lock', 54, /without `lock` held \(it holds no lock\)/],
    ['retry-outside-lock.bad', 'retry-outside-lock', 49, /programmed \(setPte\) after `lock` was released/],
    ['retry-outside-lock.unlocked', 'retry-outside-lock', 44, /checked without `lock` held/],
    ['owner-without-event.bad', 'owner-without-event', 54, /test the event first/],
    ['event-fallthrough.bad', 'event-fallthrough', 66, /PROTECTION_VMA, MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFY_SOFT_DIRTY/],
    [
      'clear-without-flush.bad',
      'clear-without-flush',
      58,
      /invalidate returns after `vm\.clearRange\(\)` \(.*not blockable\) with no TLB flush/,
    ],
    [
      'dma-unmap-while-mapped.bad',
      'dma-unmap-while-mapped',
      67,
      /`dev\.dmaUnmap\(\)` runs before .*`vm\.clearRange\(\)` at dma-unmap-while-mapped\.bad\.ts:71 comes after it/,
    ],
    [
      'unshared-driver-state.bad',
      'unshared-driver-state',
      87,
      /`FxMirror\.closed` is written in FxMirror\.unbind with no lock held and read in FxMirror\.invalidate at unshared-driver-state\.bad\.ts:53 with `this\.lock`/,
    ],
  ])('should place and explain the finding of %s', (name, rule, line, message) => {
    const f = rulesOf(name).find((x) => x.rule === rule);
    expect(f?.line).toBe(line);
    expect(f?.message).toMatch(message);
  });

  it("should only warn when a callback skips its own MIGRATE without mmuIntervalSetSeq (test_hmm's skip)", () => {
    expect(rulesOf('skip-before-set-seq.warn')).toEqual([
      expect.objectContaining({ rule: 'skip-before-set-seq', severity: 'warning', line: 55 }),
    ]);
  });

  it('should not ask for a TLB flush on a device that caches no translations (tlb: false)', () => {
    const dir = tempDir('no-tlb');
    try {
      const text = readFileSync(fixture('clear-without-flush.bad'), 'utf8');
      const noTlb = text.replace("new Device(kernel, { name: 'fx0',", "new Device(kernel, { name: 'fx0', tlb: false,");
      expect(noTlb).not.toBe(text);
      writeFileSync(join(dir.path, 'driver.ts'), noTlb);
      expect(lint([join(dir.path, 'driver.ts')]).findings).toEqual([]);
    } finally {
      dir.dispose();
    }
  });

  it('should take a snapshot read without the lock, compared again under it, for no race (mmu_invalidate_retry)', () => {
    const dir = tempDir('snapshot');
    try {
      // The callback counts invalidations under the lock; the fault path reads the count without
      // it before hmm_range_fault. Compared again under the lock before mapping: no finding. Not
      // compared again: the unlocked read races with the callback's write.
      const text = readFileSync(fixture('unshared-driver-state.good'), 'utf8');
      const counted = text
        .replace('  closed = false;\n', '  closed = false;\n  seq = 0;\n')
        .replace('    mmuIntervalSetSeq(sub, curSeq);\n', '    mmuIntervalSetSeq(sub, curSeq);\n    this.seq++;\n')
        .replace(
          '    const start = this.kernel.pageAlignDown(va);\n',
          '    const start = this.kernel.pageAlignDown(va);\n    const snap = this.seq;\n',
        );
      const rechecked = counted.replace(
        '        const e = r.hmmPfns[0] as number;\n',
        '        if (this.seq !== snap) return;\n        const e = r.hmmPfns[0] as number;\n',
      );
      expect(counted.split('this.seq').length).toBe(3);
      expect(rechecked).not.toBe(counted);
      writeFileSync(join(dir.path, 'driver.ts'), rechecked);
      expect(lint([join(dir.path, 'driver.ts')]).findings).toEqual([]);
      writeFileSync(join(dir.path, 'driver.ts'), counted);
      expect(lint([join(dir.path, 'driver.ts')]).findings.map((f) => f.rule)).toEqual(['unshared-driver-state']);
    } finally {
      dir.dispose();
    }
  });

  it('should report an interval callback that never calls mmuIntervalSetSeq while the fault path checks the sequence', () => {
    const dir = tempDir('no-set-seq');
    try {
      const text = readFileSync(fixture('correct-mirror'), 'utf8');
      const without = text.replace('            mmuIntervalSetSeq(sub, curSeq);\n', '');
      expect(without).not.toBe(text);
      writeFileSync(join(dir.path, 'driver.ts'), without);
      const f = lint([join(dir.path, 'driver.ts')]).findings;
      expect(f.map((x) => `${x.line} ${x.rule} ${x.severity}`)).toEqual(['53 skip-before-set-seq error']);
      expect(f[0]?.message).toMatch(
        /^never calls mmuIntervalSetSeq, on any path, while the driver checks mmuIntervalReadRetry \(driver\.ts:40\)/,
      );
    } finally {
      dir.dispose();
    }
  });

  it('should follow a plain field read and written through get and set accessors, and judge it as the field itself', () => {
    const dir = tempDir('accessor');
    try {
      const text = readFileSync(fixture('unshared-driver-state.bad'), 'utf8');
      const accessed = text
        .replace(
          '  closed = false;\n',
          '  private closedFlag = false;\n  get closed(): boolean {\n    return this.closedFlag;\n  }\n  set closed(v: boolean) {\n    this.closedFlag = v;\n  }\n',
        )
        .replace('/** Set when the device file closes. */\n', '/** Set when the device file closes (through its accessors). */\n');
      expect(accessed).not.toBe(text);
      writeFileSync(join(dir.path, 'driver.ts'), accessed);
      const f = lint([join(dir.path, 'driver.ts')]).findings;
      expect(f.map((x) => x.rule)).toEqual(['unshared-driver-state']);
      expect(f[0]?.message).toMatch(
        /^`FxMirror\.closedFlag` is written in FxMirror\.unbind with no lock held and read in FxMirror\.invalidate/,
      );
      // The same accessors, the flag set under the lock: no finding.
      const locked = accessed.replace(
        '    this.closed = true;\n    await this.lock.lock();\n',
        '    await this.lock.lock();\n    this.closed = true;\n',
      );
      expect(locked).not.toBe(accessed);
      writeFileSync(join(dir.path, 'driver.ts'), locked);
      expect(lint([join(dir.path, 'driver.ts')]).findings).toEqual([]);
    } finally {
      dir.dispose();
    }
  });

  it("should follow driver state through declared types: a parameter's, a field's, a cast's class", () => {
    // The callback reaches the mirror through `(mni as FxNotifier).mirror`, a field declared
    // `FxMirror`; `unbind` sets the flag without the lock the callback reads it under.
    const typed = rulesOf('unshared-driver-state.typed').filter((f) => f.rule === 'unshared-driver-state');
    expect(typed.map((f) => f.message)).toEqual([
      expect.stringMatching(
        /^`FxMirror\.closed` is written in FxMirror\.unbind with no lock held and read in fxOps\.invalidate at unshared-driver-state\.typed\.ts:\d+ with `mni\.mirror\.lock`/,
      ),
    ]);
    const dir = tempDir('typed');
    try {
      const text = readFileSync(fixture('unshared-driver-state.typed'), 'utf8');
      const locked = text.replace(
        '    this.closed = true;\n    await this.lock.lock();\n',
        '    await this.lock.lock();\n    this.closed = true;\n',
      );
      expect(locked).not.toBe(text);
      writeFileSync(join(dir.path, 'driver.ts'), locked);
      expect(lint([join(dir.path, 'driver.ts')]).findings).toEqual([]);
    } finally {
      dir.dispose();
    }
  });

  describe('remove-in-callback', () => {
    /** Lints a fixture after one edit (the edit must apply). */
    const lintEdited = (name: string, from: string, to: string) => {
      const text = readFileSync(fixture(name), 'utf8');
      const edited = text.replace(from, to);
      expect(edited).not.toBe(text);
      const dir = tempDir('remove');
      try {
        writeFileSync(join(dir.path, 'driver.ts'), edited);
        return lint([join(dir.path, 'driver.ts')]).findings;
      } finally {
        dir.dispose();
      }
    };

    it('should report an unbind that removes the notifier holding the lock the callback takes, and not once it releases the lock first', () => {
      const f = rulesOf('remove-in-callback.under-lock');
      expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['90 remove-in-callback']);
      expect(f[0]?.message).toMatch(
        /^FxMirror\.unbind calls mmuIntervalNotifierRemove holding `this\.lock` \(taken at remove-in-callback\.under-lock\.ts:86\), which FxMirror\.invalidate takes at remove-in-callback\.under-lock\.ts:49: mmu_interval_notifier_remove waits/,
      );
      const released = lintEdited(
        'remove-in-callback.under-lock',
        '    await mmuIntervalNotifierRemove(this.notifier); // BUG: an invalidation in progress waits for the lock\n    this.lock.unlock();\n',
        '    this.lock.unlock();\n    await mmuIntervalNotifierRemove(this.notifier);\n',
      );
      expect(released).toEqual([]);
    });

    it('should report mmuNotifierUnregister from release and under the lock start takes, and not mmuNotifierPut', () => {
      const f = rulesOf('remove-in-callback.unregister');
      expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['58 remove-in-callback', '65 remove-in-callback']);
      expect(f[0]?.message).toMatch(/^FxSecondaryMmu\.release calls mmuNotifierUnregister: .* synchronize_srcu .* mmuNotifierPut/);
      expect(f[1]?.message).toMatch(/which FxSecondaryMmu\.invalidateRangeStart takes at remove-in-callback\.unregister\.ts:45/);
      const put = lintEdited(
        'remove-in-callback.unregister',
        '    await mmuNotifierUnregister(this.mn, this.mm); // BUG: waits for this release',
        '    mmuNotifierPut(this.mn);',
      );
      expect(put.map((x) => `${x.line} ${x.rule}`)).toEqual(['65 remove-in-callback']);
    });

    it('should report a callback that waits for a work item that removes the notifier, and not one that only queues it', () => {
      const f = rulesOf('remove-in-callback.flush-work');
      expect(f.map((x) => `${x.line} ${x.rule}`)).toEqual(['59 remove-in-callback']);
      expect(f[0]?.message).toMatch(
        /^FxMirror\.invalidate waits in flushWork for the work item `this\.removeWork`, which calls mmuIntervalNotifierRemove at remove-in-callback\.flush-work\.ts:33/,
      );
      const queued = lintEdited(
        'remove-in-callback.flush-work',
        '      await this.wq.flushWork(this.removeWork); // BUG: waits for a removal that waits for this callback\n',
        '',
      );
      expect(queued).toEqual([]);
    });

    it('should not report mmuNotifierUnregister from an interval callback: it runs outside the SRCU section unregister waits for', () => {
      const f = lintEdited(
        'remove-in-callback.bad',
        'await mmuIntervalNotifierRemove(sub); // BUG: waits for itself',
        'await mmuNotifierUnregister(new MmuNotifier({}), this.mm);',
      );
      expect(f).toEqual([]);
    });
  });

  it('should run only the rules asked for', () => {
    expect(lint([fixture('owner-without-event.bad')], { rules: ['lock-leak'] }).findings).toEqual([]);
    expect(() => lint([fixture('correct-mirror')], { rules: ['no-such-rule'] })).toThrow(
      /lint: unknown rule "no-such-rule"; expected one of/,
    );
  });
});

describe('revoke-without-dirty', () => {
  /** The negative fixture with `edits` applied, linted from a temporary folder. */
  const lintWith = (edits: readonly (readonly [string, string])[]) => {
    let text = readFileSync(fixture('revoke-without-dirty.good'), 'utf8');
    for (const [from, to] of edits) {
      const next = text.replace(from, to);
      expect(next).not.toBe(text);
      text = next;
    }
    const dir = tempDir('dirty');
    try {
      writeFileSync(join(dir.path, 'driver.ts'), text);
      return lint([join(dir.path, 'driver.ts')]).findings.filter((f) => f.rule === 'revoke-without-dirty');
    } finally {
      dir.dispose();
    }
  };
  const withUnmap: [string, string] = ['  ULONG_MAX,\n} from', '  MMU_NOTIFY_UNMAP,\n  ULONG_MAX,\n} from'];
  const dirtyOnly = (test: string): [string, string] => [
    '            vm.dirtyWritable(range.start, range.end);\n',
    `            if (${test}) vm.dirtyWritable(range.start, range.end);\n`,
  ];

  it('should report a revoke whose CLEAR paths never mark pages dirty, though another event does', () => {
    const f = lintWith([withUnmap, dirtyOnly('range.event === MMU_NOTIFY_UNMAP')]);
    expect(f.map((x) => x.line)).toEqual([60]);
    expect(f[0]?.message).toMatch(
      /revokes the device's translations with `vm\.clearRange\(\)` .* marks no page dirty on any path through it/,
    );
  });

  it('should not report it when the CLEAR paths mark them, whatever other events do', () => {
    expect(lintWith([withUnmap, dirtyOnly('range.event !== MMU_NOTIFY_UNMAP')])).toEqual([]);
  });

  it('should leave a device that maps every page read-only alone', () => {
    const readOnly: [string, string] = ['{ write: (e & HMM_PFN_WRITE) !== 0 }', '{ write: false }'];
    const noDirty: [string, string] = ['            vm.dirtyWritable(range.start, range.end);\n', ''];
    expect(lintWith([noDirty]).map((x) => x.rule)).toEqual(['revoke-without-dirty']);
    expect(lintWith([noDirty, readOnly])).toEqual([]);
  });
});
