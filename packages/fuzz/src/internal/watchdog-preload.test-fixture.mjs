// For watchdog.test.ts: a module the worker imports before the loader (WatchOptions.preload). It
// notes when it was evaluated, and its job says in what order that and the loader's registration came.
(globalThis.loadOrder ??= []).push('preload');

export function loadOrder() {
  return globalThis.loadOrder;
}
