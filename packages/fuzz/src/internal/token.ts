/**
 * Replay tokens: scenario + recorded decisions + profile + driver name + hmmlab version, deflated
 * and base64url-encoded. The same token replays the same run, byte for byte, on any machine.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { HmmlabError, type ProfileName } from '@hmmlab/core';
import { type Scenario, validateScenario } from '@hmmlab/harness';

/** The hmmlab version tokens record. */
export const HMMLAB_VERSION = '0.1.0';

const PREFIX = 'hmmlab1_';

/** What a token holds. */
export interface ReplayData {
  readonly version: string;
  readonly driver: string;
  readonly profile: ProfileName;
  readonly scenario: Scenario;
  /** The scheduler's choices, as the run recorded them. */
  readonly decisions: readonly number[];
}

/** Encodes a replay token. */
export function encodeToken(data: Omit<ReplayData, 'version'>): string {
  const json = JSON.stringify({ version: HMMLAB_VERSION, ...data });
  return PREFIX + deflateRawSync(Buffer.from(json, 'utf8'), { level: 9 }).toString('base64url');
}

/** Decodes a replay token; throws an error that says what is wrong with it. */
export function decodeToken(token: string): ReplayData {
  const t = token.trim();
  if (!t.startsWith(PREFIX)) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `replay token: it does not start with "${PREFIX}"; copy the whole token hmmlab printed`);
  }
  let data: ReplayData;
  try {
    data = JSON.parse(inflateRawSync(Buffer.from(t.slice(PREFIX.length), 'base64url')).toString('utf8')) as ReplayData;
  } catch {
    throw new HmmlabError('ERR_BAD_ARGUMENT', 'replay token: it is truncated or corrupted; copy the whole token hmmlab printed');
  }
  if (typeof data !== 'object' || data === null || typeof data.driver !== 'string' || !Array.isArray(data.decisions)) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', 'replay token: it decodes, but not to a hmmlab replay; copy the whole token hmmlab printed');
  }
  validateScenario(data.scenario);
  return data;
}
