/**
 * Errors and errno values of the model.
 *
 * Where the kernel returns an errno, the model returns the same negative number (`-EINVAL`), so a
 * driver author compares results exactly as the C code does. Everything else that is wrong input
 * throws an {@link HmmlabError} with a stable `code`.
 */

/** Kernel errno values used by the model (include/uapi/asm-generic/errno-base.h, errno.h). */
export const EPERM = 1;
/** `ENOENT`: no such entry. */
export const ENOENT = 2;
/** `EINTR`: interrupted by a signal (a fatal signal ended a killable wait). */
export const EINTR = 4;
/** `ENOMEM`: out of memory. */
export const ENOMEM = 12;
/** `EFAULT`: bad address: no VMA, or an access the VMA does not allow. */
export const EFAULT = 14;
/** `EBUSY`: resource busy (a page pinned or locked, a range already taken). */
export const EBUSY = 16;
/** `EEXIST`: already exists (a notifier already registered). */
export const EEXIST = 17;
/** `ENODEV`: no such device. */
export const ENODEV = 19;
/** `EINVAL`: invalid argument. */
export const EINVAL = 22;
/** `EAGAIN`: try again (a non-blockable range would sleep, or a sequence changed). */
export const EAGAIN = 11;
/** `EOVERFLOW`: value too large. */
export const EOVERFLOW = 75;

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [EOVERFLOW]: 'EOVERFLOW',
};

/** `errnoName(-22)` is `'-EINVAL'`; `errnoName(0)` is `'0'`. */
export function errnoName(ret: number): string {
  if (ret >= 0) return String(ret);
  const name = ERRNO_NAMES[-ret];
  return name === undefined ? String(ret) : `-${name}`;
}

/**
 * Stable codes of {@link HmmlabError}. `ERR_INTERNAL` is the one that is never the caller's doing:
 * the model found its own state broken (a bug of hmmlab), and a run that meets it has no verdict.
 */
export type HmmlabErrorCode =
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_UNALIGNED'
  | 'ERR_NOT_OWNER'
  | 'ERR_NOT_LOCKED'
  | 'ERR_NO_TASK'
  | 'ERR_DOUBLE_WAIT'
  | 'ERR_NOT_AWAITED'
  | 'ERR_RUN_ACTIVE'
  | 'ERR_DOUBLE_INSERT'
  | 'ERR_NOT_INSERTED'
  | 'ERR_IN_CALLBACK'
  | 'ERR_PROFILE'
  | 'ERR_STATE'
  | 'ERR_INTERNAL';

/**
 * An error a user can act on: the message starts with the API name, says what is wrong, shows the
 * bad value and what was expected.
 */
export class HmmlabError extends Error {
  /** Stable machine-readable code. */
  readonly code: HmmlabErrorCode;
  constructor(code: HmmlabErrorCode, message: string) {
    super(message);
    this.name = 'HmmlabError';
    this.code = code;
  }
}

/** The `ERR_INTERNAL` error in `e` or in its chain of causes, if any. */
export function internalError(e: unknown): HmmlabError | null {
  return errorWithCode(e, 'ERR_INTERNAL');
}

/**
 * The `ERR_PROFILE` error in `e` or in its chain of causes, if any: driver code called an API, or
 * passed an argument, that the run's kernel profile does not have. Such a driver does not build for
 * that kernel (the C call would not compile), so a run that meets it has no verdict.
 */
export function profileError(e: unknown): HmmlabError | null {
  return errorWithCode(e, 'ERR_PROFILE');
}

function errorWithCode(e: unknown, code: HmmlabErrorCode): HmmlabError | null {
  for (let x = e, depth = 0; x instanceof Error && depth < 8; x = x.cause, depth++) {
    if (x instanceof HmmlabError && x.code === code) return x;
  }
  return null;
}

/**
 * A run ended on a call the kernel profile lacks ({@link profileError}): the driver is not written
 * for that kernel. Its own class, so that a process that only sees the class name (a watched worker's
 * caller) tells it from the driver's failures and from hmmlab's.
 */
export class ProfileMismatchError extends HmmlabError {
  constructor(message: string) {
    super('ERR_PROFILE', message);
    this.name = 'ProfileMismatchError';
  }
}

/**
 * Refuses an options object with a field that `fields` (every field of the options type, tied to
 * it by `satisfies Record<keyof Options, true>`) does not name: a misspelt option (`maxstep`,
 * `rule`) would otherwise be ignored and the call run with the default. Throws
 * `ERR_BAD_ARGUMENT`: `<api>: unknown option "<name>"; the options are …`.
 */
export function checkOptionNames(api: string, options: object, fields: Readonly<Record<string, true>>): void {
  for (const k in options) {
    if (!Object.hasOwn(fields, k)) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `${api}: unknown option "${k}"; the options are ${Object.keys(fields).join(', ')}`);
    }
  }
}

/** Formats an address for messages: `0x7f0000001000`. */
export function hex(n: number): string {
  return n < 0 ? `-0x${hexDigits(-n)}` : `0x${hexDigits(n)}`;
}

/**
 * `n.toString(16)`. A user address (about 2^47) is no 32-bit integer, and V8 converts such a
 * number digit by digit as a double, three times slower than two 32-bit halves: device fault
 * handlers are named by their address at every fault.
 */
function hexDigits(n: number): string {
  if (n < 2 ** 32 || !Number.isSafeInteger(n)) return n.toString(16);
  const high = Math.floor(n / 2 ** 32);
  return high.toString(16) + (n - high * 2 ** 32).toString(16).padStart(8, '0');
}
