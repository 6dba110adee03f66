/**
 * The hmmlab CLI as a library: its commands, for tools that embed them.
 *
 * @module hmmlab
 */
export { type FuzzCommandOptions, fuzzCommand } from './commands/fuzz.js';
export { replayCommand } from './commands/replay.js';
export { type ReportCommandOptions, reportCommand } from './commands/report.js';
export { testCommand } from './commands/test.js';
export { UsageError } from './internal/usage.js';
