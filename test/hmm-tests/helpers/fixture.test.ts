/**
 * The port's word loops: a `seq` pattern fills and compares exactly as the closure it stands for,
 * and a mismatch fails with its index. (A folder of its own: the bench runs the top-level cases.)
 */
import { describe, expect, it } from 'vitest';
import { expectWords, fill, seq } from '../fixture.js';

describe('seq', () => {
  it('should fill the words its closure gives, and compare them', () => {
    for (const [pattern, closure] of [
      [seq(), (i: number) => i],
      [seq(7), (i: number) => i + 7],
      [seq(0, -1), (i: number) => -i],
    ] as const) {
      const fast = new Int32Array(64);
      const slow = new Int32Array(64);
      fill(fast, 64, pattern);
      fill(slow, 64, closure);
      expect(fast).toEqual(slow);
      expect(pattern(5)).toBe(closure(5));
      expectWords(slow, 64, pattern, 'words');
    }
  });

  it('should fail on the first word that differs, with its index', () => {
    const words = new Int32Array(32);
    fill(words, 32, seq(3));
    words[17] = 0;
    expect(() => expectWords(words, 32, seq(3), 'mirror')).toThrow(/mirror\[17\]/);
    expect(() => expectWords(words, 32, (i) => i + 3, 'mirror')).toThrow(/mirror\[17\]/);
  });
});
