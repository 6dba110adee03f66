/**
 * Buffers for driver code that check their bounds, as a KASAN kernel does: the bounce buffer of a
 * copy command (test_hmm's `vmalloc`'d `dmirror_bounce`), a staging area. In the model a typed
 * array ignores a write past its end and reads `undefined` there, so an off-by-one loop over one
 * would go unseen; these throw instead, and the run reports where.
 */
import { HmmlabError } from '@hmmlab/core';

/** Whether `s` spells an integer index, possibly negative (`/^-?\d+$/`, without a regular expression). */
function isIndex(s: string): boolean {
  const from = s.charCodeAt(0) === 45 ? 1 : 0;
  if (s.length === from) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * An `Int32Array` of `words` words, zeroed, named `name` in errors. Reading or writing an index
 * outside `[0, words)` throws: in C it reads or overwrites whatever follows the allocation (KASAN
 * reports it as an out-of-bounds access, mm/kasan/report.c). Everything else is the array's own.
 */
export function kernelBuffer(words: number, name: string): Int32Array {
  const target = new Int32Array(words);
  const outside = (prop: string | symbol): number | null => {
    if (typeof prop !== 'string' || !isIndex(prop)) return null;
    const i = Number(prop);
    return i < 0 || i >= words ? i : null;
  };
  const fail = (i: number, verb: string): never => {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${name}: ${verb} word ${i}, outside its ${words} words (an out-of-bounds access of the buffer)`,
    );
  };
  return new Proxy(target, {
    get(t, prop) {
      const i = outside(prop);
      if (i !== null) fail(i, 'read of');
      const v: unknown = Reflect.get(t, prop);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(t) : v;
    },
    set(t, prop, value) {
      const i = outside(prop);
      if (i !== null) fail(i, 'write to');
      return Reflect.set(t, prop, value);
    },
  });
}
