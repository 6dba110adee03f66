/**
 * Offsets and alignment of addresses. A user address (near 0x7f0000000000) is no small integer,
 * and V8 computes `%` of such a number by a call to a floating-point remainder, about 13 ns; the
 * model takes such offsets on every access, fault and page-table step.
 */

/**
 * `x % size` for a power-of-two `size`, the same value: the division by a power of two is exact,
 * so the truncated quotient times `size` is what `%` takes away.
 */
export function offsetIn(x: number, size: number): number {
  return x - Math.trunc(x / size) * size;
}
