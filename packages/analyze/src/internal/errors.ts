/** Errors of @hmmlab/analyze: each has a stable code and says what to do. */

/** The codes an {@link AnalyzeError} carries. */
export type AnalyzeErrorCode =
  | 'ERR_NO_SUCH_FILE'
  | 'ERR_NO_FILES'
  | 'ERR_PROFILE'
  | 'ERR_TEMPLATE'
  | 'ERR_TARGET_EXISTS'
  | 'ERR_USAGE'
  | 'ERR_PARSE';

/** A usage error: a missing file, a file that does not parse, an unknown profile or template, a bad argument. */
export class AnalyzeError extends Error {
  /** Stable error code. */
  readonly code: AnalyzeErrorCode;
  constructor(code: AnalyzeErrorCode, message: string) {
    super(message);
    this.name = 'AnalyzeError';
    this.code = code;
  }
}
