import { describe, expect, it } from 'vitest';
import { kernelBuffer } from './kernel-buffer.js';

describe('kernelBuffer', () => {
  it('should behave as an Int32Array inside its bounds', () => {
    const b = kernelBuffer(4, 'bounce');
    b[0] = 7;
    b.set([1, 2], 2);
    expect([b instanceof Int32Array, b.length, b.byteLength, [...b.subarray(0, 4)]]).toEqual([true, 4, 16, [7, 0, 1, 2]]);
    const copy = new Int32Array(4);
    copy.set(b);
    expect([...copy]).toEqual([7, 0, 1, 2]);
  });

  // A copy loop one page too long: an Int32Array drops the write and reads undefined; this throws.
  it.each([
    [
      'write to word 4',
      (b: Int32Array) => {
        b[4] = 1;
      },
    ],
    ['read of word 4', (b: Int32Array) => b[4]],
    ['read of word -1', (b: Int32Array) => b[-1]],
  ])('should throw on a %s of a 4-word buffer', (what, touch) => {
    expect(() => touch(kernelBuffer(4, 'bounce'))).toThrow(
      expect.objectContaining({
        code: 'ERR_BAD_ARGUMENT',
        message: `bounce: ${what}, outside its 4 words (an out-of-bounds access of the buffer)`,
      }),
    );
  });
});
