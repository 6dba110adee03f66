/**
 * The static commands on kernel C (`hmmlab lint | explain | init --from` on `.c` and `.h`
 * files), in an entry point of their own: it loads the C parser and none of the TypeScript
 * checker (ts-morph and the TypeScript compiler), so that a command on C starts without them.
 *
 * @module @hmmlab/analyze/c
 */

export { isCTarget } from './c/analyze.js';
export { explainCCommand, initFromCCommand, lintCCommand } from './c/commands.js';
