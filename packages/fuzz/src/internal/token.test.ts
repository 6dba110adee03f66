import { deflateRawSync } from 'node:zlib';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, HMMLAB_VERSION, type TokenInput } from './token.js';

const scenario: Scenario = {
  profile: '6.1',
  profileOverrides: { exclusiveRestoreOwner: 'caller' },
  regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [{ kind: 'cpu', ops: [{ op: 'write', region: 0, page: 0, value: 1 }] }],
};
const input: TokenInput = {
  driver: 'd',
  scenario,
  decisions: [0, 1, 2, 1, 0],
  maxSteps: 20_000,
  oracle: { stopOnFirst: true, rules: ['missed-flush'] },
  expected: { rule: 'missed-flush', step: 12, steps: 13, fingerprint: '0badcafe' },
};

/** A token of this format with the given body. */
const withBody = (body: unknown): string => `hmmlab2_${deflateRawSync(Buffer.from(JSON.stringify(body))).toString('base64url')}`;

describe('encodeToken and decodeToken', () => {
  it('should round-trip every input of the run and how it ended', () => {
    expect(decodeToken(encodeToken(input))).toEqual({ ...input, version: HMMLAB_VERSION, profile: '6.1' });
  });

  it('should read a token that was wrapped over lines, or indented', () => {
    const t = encodeToken(input);
    const wrapped = `  ${t.slice(0, 30)}\n  ${t.slice(30, 70)}\r\n${t.slice(70)}\n`;
    expect(decodeToken(wrapped)).toEqual(decodeToken(t));
  });

  it('should refuse a token with any one character changed, never replaying another run', () => {
    const t = encodeToken(input);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 'hmmlab2_'.length; i < t.length; i++) {
      const c = t[i] as string;
      const other = alphabet[(alphabet.indexOf(c) + 1 + (i % 63)) % 64] as string;
      const changed = t.slice(0, i) + other + t.slice(i + 1);
      expect(() => decodeToken(changed), `character ${i}: ${c} → ${other}`).toThrow(
        /replay token: (it is truncated or corrupted|it decodes, but not to a hmmlab replay|its scenario is not valid)/,
      );
    }
  });

  it('should still read a token of this version without the check', () => {
    const body = { v: HMMLAB_VERSION, d: 'd', s: scenario, c: '01210', m: 20_000, o: input.oracle, e: input.expected };
    expect(decodeToken(withBody(body)).decisions).toEqual(input.decisions);
  });

  it('should keep decisions too large for one digit', () => {
    const d = [0, 40, 3];
    expect(decodeToken(encodeToken({ ...input, decisions: d })).decisions).toEqual(d);
  });

  it.each([
    ['not a token', 'not-a-token', /does not start with "hmmlab2_"/],
    ['a token of the first format', 'hmmlab1_7dLNjpswFIbhe', /format-1 token; this hmmlab reads format 2/],
    ['a truncated token', encodeToken(input).slice(0, 40), /truncated or corrupted/],
    ['a token with text after it', `${encodeToken(input)}AAAA`, /truncated or corrupted/],
    ['a token with one character after it', `${encodeToken(input)}x`, /truncated or corrupted/],
    ['a token with a character of another alphabet', encodeToken(input).replace(/^(hmmlab2_.{20})./, '$1+'), /truncated or corrupted/],
    ['two tokens run together', encodeToken(input) + encodeToken(input), /truncated or corrupted/],
    ['another hmmlab version', withBody({ v: '0.0.1' }), /recorded by hmmlab 0\.0\.1, this is hmmlab/],
    [
      'a body without the step limit',
      withBody({ v: HMMLAB_VERSION, d: 'd', s: scenario, c: '01', o: { stopOnFirst: true } }),
      /not to a hmmlab replay/,
    ],
  ])('should refuse %s in one line', (_what, token, message) => {
    expect(() => decodeToken(token)).toThrow(message);
    try {
      decodeToken(token);
    } catch (e) {
      expect(e).toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
      expect((e as Error).message.split('\n')).toHaveLength(1);
    }
  });
});
