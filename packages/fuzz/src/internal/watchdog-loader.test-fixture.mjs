// For watchdog.test.ts: a loader (WatchOptions.loader) that registers nothing and notes when the
// worker registered it.
export function register() {
  (globalThis.loadOrder ??= []).push('loader');
}
