import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { explain } from './explain.js';

const fixture = (name: string) => fileURLToPath(new URL(`../rules/fixtures/${name}.ts`, import.meta.url));

describe('explain', () => {
  it('should give one row per path of a correct mirror: lock or trylock, set_seq and flush, or false', () => {
    const { tables } = explain(fixture('correct-mirror'));
    expect(tables).toHaveLength(1);
    expect(tables[0]).toMatchObject({ callback: 'correct-mirror.invalidate', kind: 'interval', truncated: false });
    expect(tables[0]?.rows).toEqual([
      {
        event: 'any event',
        owner: 'any',
        blockable: 'yes',
        state: [],
        flushes: ['clearRange(vm)', 'flushTlb(vm)'],
        setSeq: true,
        setSeqUnder: ['lock'],
        returns: 'true',
      },
      {
        event: 'MMU_NOTIFY_UNMAP',
        owner: 'any',
        blockable: 'no',
        state: [{ test: 'lock.tryLock()', value: true }],
        flushes: ['clearRange(vm)', 'flushTlb(vm)'],
        setSeq: true,
        setSeqUnder: ['lock'],
        returns: 'true',
      },
      {
        event: 'MMU_NOTIFY_UNMAP',
        owner: 'any',
        blockable: 'no',
        state: [{ test: 'lock.tryLock()', value: false }],
        flushes: [],
        setSeq: false,
        setSeqUnder: [],
        returns: 'false',
      },
    ]);
  });

  it("should split the rows by event and owner where the callback tests them (own EXCLUSIVE skipped, nouveau's N2)", () => {
    const { tables, text } = explain(fixture('skip-before-set-seq.good'));
    const rows = tables[0]?.rows ?? [];
    expect(rows[0]).toMatchObject({ event: 'MMU_NOTIFY_EXCLUSIVE', owner: 'own', setSeq: false, flushes: [], returns: 'true' });
    expect(rows.some((r) => r.event === 'MMU_NOTIFY_RELEASE' && !r.setSeq && r.returns === 'true')).toBe(true);
    expect(text).toMatch(
      /skip-before-set-seq\.good\.ts:\d+ skip-before-set-seq\.good\.invalidate \(interval notifier invalidate\)\n {2}# +event +owner +blockable/,
    );
    expect(text).toMatch(/\n {2}1 +MMU_NOTIFY_EXCLUSIVE +own +yes +- +- +no +true\n/);
  });

  it("should list the flushes of the op a helper's callback calls through its ops table (drm_gpusvm's shape)", () => {
    const rows = explain(fixture('correct-mirror.ops-table')).tables[0]?.rows ?? [];
    expect(rows.map((r) => [r.blockable, r.flushes, r.returns])).toEqual([
      ['yes', ['clearRange(this.vm)', 'flushTlb(this.vm)'], 'true'],
      ['no', ['clearRange(this.vm)', 'flushTlb(this.vm)'], 'true'],
      ['no', [], 'false'],
    ]);
  });

  it("should find the callbacks of ops given as the driver object, an object of its own class or a factory's result, and follow a spread of a rest parameter", () => {
    for (const name of ['correct-mirror.this-ops', 'correct-mirror.rest-args', 'correct-mirror.ops-factory', 'correct-mirror.ops-class']) {
      const rows = explain(fixture(name)).tables[0]?.rows ?? [];
      expect(
        rows.map((r) => [r.event, r.blockable, r.flushes.map((f) => f.replace(/\(.*/, '')), r.returns]),
        name,
      ).toEqual([
        ['any event', 'yes', ['clearRange', 'flushTlb'], 'true'],
        ['MMU_NOTIFY_UNMAP', 'no', ['clearRange', 'flushTlb'], 'true'],
        ['MMU_NOTIFY_UNMAP', 'no', [], 'false'],
      ]);
    }
  });

  it('should name the missing file', () => {
    expect(() => explain('no/such/driver.ts')).toThrow('explain: no such file or folder: no/such/driver.ts');
  });
});
