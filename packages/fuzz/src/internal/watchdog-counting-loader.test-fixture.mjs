// For watchdog.test.ts: a loader (WatchOptions.loader) whose resolve hook counts how often the
// worker asks it to resolve watchdog-preload.test-fixture.mjs, in memory both threads share.
import { register as registerHooks } from 'node:module';

export function register() {
  globalThis.resolutions = new Int32Array(new SharedArrayBuffer(4));
  registerHooks(new URL('./watchdog-counting-hooks.test-fixture.mjs', import.meta.url), {
    data: { counts: globalThis.resolutions },
  });
}

export function resolutions() {
  return Atomics.load(globalThis.resolutions, 0);
}
