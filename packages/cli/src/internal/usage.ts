/**
 * Usage errors: the command line or its inputs are wrong. The CLI prints the one-line message and
 * exits with status 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
