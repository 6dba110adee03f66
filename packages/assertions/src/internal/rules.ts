/**
 * The oracle's rules: stable ids, the family each belongs to, and the one-line statement of what
 * must hold (DESIGN.md, "The oracle").
 */

/** A rule id. */
export type RuleId =
  | 'missed-flush'
  | 'own-migration-unrevoked'
  | 'stale-install'
  | 'freed-page-mapped'
  | 'translation-after-unbind'
  | 'dma-unmapped-in-use'
  | 'vm-use-after-free'
  | 'lost-write'
  | 'stale-read'
  | 'data-race'
  | 'sleep-in-nonblockable'
  | 'false-while-blockable'
  | 'start-failed-with-end'
  | 'lock-leak'
  | 'leak-at-exit'
  | 'deadlock'
  | 'livelock'
  | 'fault-stuck'
  | 'callback-threw'
  | 'callback-hung'
  | 'kernel-warn';

/** Rule families, one vitest matcher each. */
export type RuleFamily = 'flush' | 'data' | 'blocking' | 'liveness' | 'failure';

/** What each rule checks: its `family`, and the property that `holds` while the rule is kept. */
export const RULES: Readonly<Record<RuleId, { family: RuleFamily; holds: string }>> = {
  'missed-flush': {
    family: 'flush',
    holds: 'when the kernel changes a CPU entry inside an invalidation, no device still holds a translation the new entry no longer allows',
  },
  'own-migration-unrevoked': {
    family: 'flush',
    holds:
      'after skipping its own MIGRATE/EXCLUSIVE invalidation, a device holds no writable translation to a source page when it is copied, and none at all when it is freed',
  },
  'stale-install': {
    family: 'flush',
    holds: 'a device installs only translations the CPU entry allows, and none after an invalidation of that address told it to stop',
  },
  'freed-page-mapped': {
    family: 'flush',
    holds: 'no device translation, DMA mapping or driver reference points at a page when it is freed, and none is made to a free page',
  },
  'translation-after-unbind': {
    family: 'flush',
    holds: "when a binding's unbind returns, no running device holds a translation of the process: nothing would revoke it any more",
  },
  'dma-unmapped-in-use': {
    family: 'flush',
    holds:
      "a device's DMA mapping of a page is torn down only once the device holds no translation that reaches the page (its entry cleared and its TLB flushed)",
  },
  'vm-use-after-free': {
    family: 'failure',
    holds:
      'no driver code updates, walks or flushes a device address space after it was freed, and no CPU fault reaches a binding through a device page after its unbind returned',
  },
  'lost-write': { family: 'data', holds: 'no write is lost: every write lands on the page that holds the memory' },
  'stale-read': { family: 'data', holds: 'every read returns the last value written to that address' },
  'data-race': {
    family: 'data',
    holds:
      'two tasks touch the same driver state (a device PTE, a SharedCell, a DMA mapping) only when a common lock or another happens-before edge orders them',
  },
  'sleep-in-nonblockable': { family: 'blocking', holds: 'a callback of a non-blockable invalidation never sleeps' },
  'false-while-blockable': {
    family: 'blocking',
    holds: 'an interval callback returns false, and a classic invalidate_range_start an error, only for a non-blockable range',
  },
  'start-failed-with-end': {
    family: 'blocking',
    holds: 'a notifier whose invalidate_range_start can fail does not implement invalidate_range_end',
  },
  'lock-leak': { family: 'liveness', holds: 'driver code returns without holding a lock it took' },
  'leak-at-exit': {
    family: 'liveness',
    holds:
      'once every process has exited and every device file is closed, the driver holds nothing of them: every device page is free again, no system page is still referenced nor DMA-mapped, every address space was torn down, and no notifier of the driver is left on it',
  },
  deadlock: { family: 'liveness', holds: 'some task can always run' },
  livelock: { family: 'liveness', holds: 'retry loops make progress within their bound' },
  'fault-stuck': {
    family: 'liveness',
    holds:
      'a device access the driver failed with "try again" (-EBUSY, -EAGAIN) succeeds when made again once every program is done and the driver is at rest, if the process can still access that memory',
  },
  'callback-threw': { family: 'failure', holds: 'driver code does not throw' },
  'callback-hung': { family: 'failure', holds: 'driver code awaits only model primitives, and they settle' },
  'kernel-warn': {
    family: 'failure',
    holds: 'driver code never makes the kernel WARN or report a bad page state: each is a misuse of a kernel API that the kernel survives',
  },
};

/** All rule ids. */
export const RULE_IDS = Object.keys(RULES) as RuleId[];
