/**
 * The part of vitest's API the hmm-tests port uses (`describe`, `it`, `expect` with the matchers
 * it calls, `ctx.skip`), so that the bench can run the port's cases itself and time them without
 * a test runner. `it` only registers a case; {@link registeredCases} lists them.
 */
import { isDeepStrictEqual } from 'node:util';

/** A registered case. */
export interface Case {
  readonly name: string;
  readonly fn: (ctx: TestContext) => unknown;
}

/** What a case body gets. */
export interface TestContext {
  skip(note?: string): never;
}

/** Thrown by `ctx.skip`. */
export class Skipped extends Error {}

const cases: Case[] = [];
const prefix: string[] = [];

/** The cases registered so far. */
export function registeredCases(): readonly Case[] {
  return cases;
}

export function describe(name: string, fn: () => void): void {
  prefix.push(name);
  try {
    fn();
  } finally {
    prefix.pop();
  }
}

export function it(name: string, fn: (ctx: TestContext) => unknown): void {
  cases.push({ name: [...prefix, name].join(' > '), fn });
}

function fail(what: string, actual: unknown, expected: unknown): never {
  throw new Error(`expected ${String(actual)} ${what} ${String(expected)}`);
}

function matchers(actual: unknown, negated: boolean) {
  const check = (ok: boolean, what: string, expected: unknown): void => {
    if (ok === negated) fail(negated ? `not ${what}` : what, actual, expected);
  };
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), 'to be', e),
    toEqual: (e: unknown) => check(isDeepStrictEqual(actual, e), 'to equal', e),
    toBeGreaterThan: (e: number) => check((actual as number) > e, 'to be greater than', e),
    toBeGreaterThanOrEqual: (e: number) => check((actual as number) >= e, 'to be at least', e),
    toBeUndefined: () => check(actual === undefined, 'to be', undefined),
  };
}

export function expect(actual: unknown, _message?: string) {
  return { ...matchers(actual, false), not: matchers(actual, true) };
}
