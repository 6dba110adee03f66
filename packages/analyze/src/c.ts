/**
 * The static commands on kernel C (`hmmlab lint | explain | init --from` on `.c` and `.h`
 * files), in an entry point of their own: it loads the C parser and none of the TypeScript
 * checker (ts-morph and the TypeScript compiler), so that a command on C starts without them.
 * The commands and checks on TypeScript drivers that need no checker are here too: `hmmlab init
 * --template` (it copies a template), and the check of lint's, explain's and codemod's arguments,
 * so that a path that names no driver source or an unknown profile is reported before the
 * checker loads.
 *
 * @module @hmmlab/analyze/c
 */

export { isCTarget } from './c/analyze.js';
export { explainCCommand, initFromCCommand, lintCCommand } from './c/commands.js';
export { type CommandResult, driverPathsUsage } from './internal/command-result.js';
export { initCommand } from './internal/init-command.js';
