/**
 * The loader a watched worker registers before it imports a TypeScript driver module (the
 * `loader` option of @hmmlab/fuzz's watched workers; runtime.ts). Importing it loads hmmlab's own
 * packages first, as plain JavaScript: once a loader's hooks are registered, every module the
 * worker imports passes through them, and the driver's imports of hmmlab find these already loaded.
 */
import '@hmmlab/core';
import '@hmmlab/harness';
import '@hmmlab/assertions';
import '@hmmlab/fuzz';
import { register as registerHooks } from 'node:module';
import type { Precompiled } from './precompile.js';

/**
 * Registers the loader of the driver's modules the command compiled (`compiled`, precompile.ts),
 * or tsx when it compiled none. Stack traces name the TypeScript files either way.
 */
export async function register(compiled?: Precompiled | null): Promise<void> {
  if (compiled === undefined || compiled === null) {
    (await import('tsx/esm/api')).register();
    return;
  }
  process.setSourceMapsEnabled(true);
  registerHooks(new URL('./precompiled-hooks.js', import.meta.url), { data: compiled });
}
