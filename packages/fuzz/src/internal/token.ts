/**
 * Replay tokens: every input of a run (driver name, scenario with its kernel profile and
 * overrides, the scheduler's decisions, the step limit, the oracle options) and what the run
 * ended in (the rule and step of its violation, its length, a fingerprint of its trace), with the
 * hmmlab version, deflated and base64url-encoded. The same token replays the same run on any
 * machine; a replay that does not end as recorded is a divergence (see `replayToken`).
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { RULE_IDS, type RuleId } from '@hmmlab/assertions';
import { HmmlabError, type ProfileName } from '@hmmlab/core';
import { type Scenario, validateScenario } from '@hmmlab/harness';

/** The hmmlab version tokens record. */
export const HMMLAB_VERSION = '0.1.0';

/** The token format this hmmlab writes and reads: the digit in the token's `hmmlabN_` prefix. */
const FORMAT = 2;
const PREFIX = `hmmlab${FORMAT}_`;

/** The oracle options a token's run was checked with. */
export interface TokenOracle {
  /** The run stopped at its first violation. */
  readonly stopOnFirst: boolean;
  /** The rules checked (every rule when absent). */
  readonly rules?: readonly RuleId[];
}

/** How the recorded run ended: what a replay must reach. */
export interface TokenExpectation {
  /** The rule of the run's first violation. */
  readonly rule: RuleId;
  /** The step of that violation. */
  readonly step: number;
  /** Scheduler steps the run took. */
  readonly steps: number;
  /** A hash of the run's whole trace (event types, steps and tasks), 8 hex digits. */
  readonly fingerprint: string;
}

/** What a token holds. */
export interface ReplayData {
  /** The hmmlab version that recorded it. */
  readonly version: string;
  /** The driver's name. */
  readonly driver: string;
  /** The kernel API profile (the scenario's; overrides are in `scenario.profileOverrides`). */
  readonly profile: ProfileName;
  /** The scenario of the run. */
  readonly scenario: Scenario;
  /** The scheduler's choices, as the run recorded them. */
  readonly decisions: readonly number[];
  /** The step limit of the run. */
  readonly maxSteps: number;
  /** The oracle options of the run. */
  readonly oracle: TokenOracle;
  /** How the recorded run ended: what a replay must reproduce. */
  readonly expected: TokenExpectation;
}

/** What {@link encodeToken} takes: the run's inputs and outcome (the version and profile are filled in). */
export type TokenInput = Omit<ReplayData, 'version' | 'profile'>;

/** Decisions as one base-36 digit each when every one fits (tasks are few), else as numbers. */
function packDecisions(d: readonly number[]): string | readonly number[] {
  return d.every((x) => x < 36) ? d.map((x) => x.toString(36)).join('') : d;
}

function unpackDecisions(d: unknown): number[] | null {
  const list = typeof d === 'string' ? [...d].map((c) => Number.parseInt(c, 36)) : d;
  if (!Array.isArray(list) || !list.every((x) => Number.isInteger(x) && (x as number) >= 0)) return null;
  return list as number[];
}

/** Encodes a replay token. */
export function encodeToken(data: TokenInput): string {
  const body = {
    v: HMMLAB_VERSION,
    d: data.driver,
    s: data.scenario,
    c: packDecisions(data.decisions),
    m: data.maxSteps,
    o: data.oracle,
    e: data.expected,
  };
  const json = JSON.stringify(body);
  const sealed = `${json.slice(0, -1)},"k":"${check(json)}"}`;
  return PREFIX + deflateRawSync(Buffer.from(sealed, 'utf8'), { level: 9 }).toString('base64url');
}

/**
 * The check of a token's content (`k`, last in its JSON): a character changed in a token can still
 * inflate to a valid scenario (another word count, another value), which would replay as another
 * run; with the check it is refused as corrupted.
 */
function check(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 8);
}

function bad(what: string): never {
  throw new HmmlabError('ERR_BAD_ARGUMENT', `replay token: ${what}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isRule = (v: unknown): v is RuleId => typeof v === 'string' && (RULE_IDS as string[]).includes(v);

/**
 * Decodes a replay token; throws an `ERR_BAD_ARGUMENT` error whose one-line message says what is
 * wrong with it: not a token, truncated, of another token format, or recorded by another hmmlab
 * version (whose model may run the same inputs differently).
 */
export function decodeToken(token: string): ReplayData {
  // A token that a terminal or a mail wrapped is still the token: its characters never include
  // white space.
  const t = token.replace(/\s+/g, '');
  const format = /^hmmlab(\d+)_/.exec(t);
  if (format === null) bad(`it does not start with "${PREFIX}"; copy the whole token hmmlab printed`);
  if (Number(format[1]) !== FORMAT) {
    bad(
      `it is a format-${format[1]} token; this hmmlab reads format ${FORMAT} (tokens "${PREFIX}…"), which records the step limit and oracle options too; run hmmlab fuzz again for a new token`,
    );
  }
  const corrupted = 'it is truncated or corrupted; copy the whole token hmmlab printed';
  // Base64url decoding skips characters outside its alphabet and a lone last one, and inflating
  // stops at the end of the stream: a token with a character changed into another alphabet's, or
  // with text after it, would replay as if whole. Neither is: it must read back as written, and
  // its stream must end where the token does.
  const text = t.slice(PREFIX.length);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) bad(corrupted);
  let body: unknown;
  try {
    const { buffer, engine } = inflateRawSync(bytes, { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    if (engine.bytesWritten !== bytes.length) bad(corrupted);
    body = JSON.parse(buffer.toString('utf8'));
  } catch {
    bad(corrupted);
  }
  const garbled = 'it decodes, but not to a hmmlab replay; copy the whole token hmmlab printed';
  if (!isObject(body) || typeof body.v !== 'string') bad(garbled);
  if (body.k !== undefined) {
    const { k, ...content } = body;
    if (k !== check(JSON.stringify(content))) bad(corrupted);
  }
  if (body.v !== HMMLAB_VERSION) {
    bad(`it was recorded by hmmlab ${body.v}, this is hmmlab ${HMMLAB_VERSION}; replay it with hmmlab ${body.v}, or fuzz again`);
  }
  const decisions = unpackDecisions(body.c);
  const o = body.o;
  const e = body.e;
  if (
    typeof body.d !== 'string' ||
    decisions === null ||
    !Number.isInteger(body.m) ||
    (body.m as number) <= 0 ||
    !isObject(o) ||
    typeof o.stopOnFirst !== 'boolean' ||
    (o.rules !== undefined && !(Array.isArray(o.rules) && o.rules.every(isRule))) ||
    !isObject(e) ||
    !isRule(e.rule) ||
    !isCount(e.step) ||
    !isCount(e.steps) ||
    typeof e.fingerprint !== 'string' ||
    !isObject(body.s)
  ) {
    bad(garbled);
  }
  const scenario = body.s as unknown as Scenario;
  try {
    validateScenario(scenario);
  } catch (err) {
    bad(`its scenario is not valid (${err instanceof Error ? err.message : String(err)})`);
  }
  return {
    version: body.v,
    driver: body.d,
    profile: scenario.profile ?? 'latest',
    scenario,
    decisions,
    maxSteps: body.m as number,
    oracle: { stopOnFirst: o.stopOnFirst, ...(o.rules !== undefined ? { rules: o.rules as RuleId[] } : {}) },
    expected: { rule: e.rule, step: e.step, steps: e.steps, fingerprint: e.fingerprint },
  };
}
