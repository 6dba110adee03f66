/**
 * The loader a watched worker registers before it imports a TypeScript driver module (the
 * `loader` option of @hmmlab/fuzz's watched workers; runtime.ts). Importing it loads hmmlab's own
 * packages first, as plain JavaScript: once tsx's hooks are registered, every module the worker
 * imports passes through them, and the driver's imports of hmmlab find these already loaded.
 */
import '@hmmlab/core';
import '@hmmlab/harness';
import '@hmmlab/assertions';
import '@hmmlab/fuzz';

export { register } from 'tsx/esm/api';
