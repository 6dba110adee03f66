/**
 * What the command line needs before any command runs, kept apart from the modules that load
 * the model (so that `hmmlab --help` stays fast): the interruption of a command by SIGINT or
 * SIGTERM, and the watchdog defaults shown in the help.
 */

/** The reason an interrupted command's work was abandoned. */
export class Interrupted extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/** Default of `--hang-timeout`, in seconds. */
export const DEFAULT_HANG_TIMEOUT_S = 10;
/** Default of `--max-heap`, in MB. */
export const DEFAULT_MAX_HEAP_MB = 2048;
