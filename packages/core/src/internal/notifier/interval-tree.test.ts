import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type IntervalNode, IntervalTree } from './interval-tree.js';

describe('IntervalTree.query', () => {
  const interval = fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 60 }));
  test.prop([fc.array(interval, { maxLength: 200 }), fc.array(fc.nat({ max: 199 }), { maxLength: 50 }), interval], { numRuns: 200 })(
    'should return exactly the intersecting intervals, ordered by start then insertion',
    (items, removals, [qs, ql]) => {
      const tree = new IntervalTree<IntervalNode>();
      const nodes = items.map(([s, l], i) => ({ start: s, last: s + l, order: i }));
      for (const n of nodes) tree.insert(n);
      const live = new Set(nodes);
      for (const r of removals) {
        const n = nodes[r];
        if (n === undefined) continue;
        expect(tree.remove(n)).toBe(live.has(n));
        live.delete(n);
      }
      const last = qs + ql;
      const want = [...live].filter((n) => n.start <= last && n.last >= qs).sort((a, b) => a.start - b.start || a.order - b.order);
      expect(tree.query(qs, last)).toEqual(want);
      expect(tree.intersects(qs, last)).toBe(want.length > 0);
      expect(tree.size).toBe(live.size);
    },
  );
});
