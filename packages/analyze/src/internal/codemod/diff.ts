/** Unified diffs (as `diff -u` prints them) of whole files, by a longest-common-subsequence line match. */

function lines(text: string): string[] {
  const l = text.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

/** The edit script of `a` → `b`: ' ' kept, '-' removed, '+' added. */
function script(a: readonly string[], b: readonly string[]): [' ' | '-' | '+', string][] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const x = a.slice(pre, a.length - suf);
  const y = b.slice(pre, b.length - suf);
  const n = x.length;
  const m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const below = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j--)
      row[j] = x[i] === y[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
  }
  const out: [' ' | '-' | '+', string][] = a.slice(0, pre).map((l) => [' ', l]);
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      out.push([' ', x[i++] as string]);
      j++;
    } else if (i < n && (j === m || ((lcs[i + 1] as Uint32Array)[j] as number) >= ((lcs[i] as Uint32Array)[j + 1] as number))) {
      out.push(['-', x[i++] as string]);
    } else out.push(['+', y[j++] as string]);
  }
  for (const l of a.slice(a.length - suf)) out.push([' ', l]);
  return out;
}

/** The unified diff of one file, with 3 lines of context; empty when the texts are equal. */
export function unifiedDiff(path: string, before: string, after: string): string {
  if (before === after) return '';
  const ops = script(lines(before), lines(after));
  const out = [`--- a/${path}`, `+++ b/${path}`];
  const ctx = 3;
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && (ops[k] as [string, string])[0] === ' ') k++;
    if (k >= ops.length) break;
    let end = k;
    for (let last = k; end < ops.length; end++) {
      if ((ops[end] as [string, string])[0] !== ' ') last = end;
      else if (end - last > 2 * ctx) break;
    }
    let stop = end;
    while (stop > k && (ops[stop - 1] as [string, string])[0] === ' ') stop--;
    const from = Math.max(0, k - ctx);
    const to = Math.min(ops.length, stop + ctx);
    let aStart = 1;
    let bStart = 1;
    for (let q = 0; q < from; q++) {
      const op = (ops[q] as [string, string])[0];
      if (op !== '+') aStart++;
      if (op !== '-') bStart++;
    }
    const hunk = ops.slice(from, to);
    const aLen = hunk.filter(([o]) => o !== '+').length;
    const bLen = hunk.filter(([o]) => o !== '-').length;
    out.push(`@@ -${aLen === 0 ? aStart - 1 : aStart},${aLen} +${bLen === 0 ? bStart - 1 : bStart},${bLen} @@`);
    for (const [o, l] of hunk) out.push(`${o}${l}`);
    k = to;
  }
  return `${out.join('\n')}\n`;
}
