/**
 * Generators described once and made two ways: as a fast-check arbitrary, whose value tree
 * shrinking walks, and as a plain draw that makes the same value from the same random stream and
 * builds no tree.
 *
 * A campaign draws every run's scenario and schedule, and shrinks only the runs that fail. Through
 * the arbitrary, a draw built a `Value` with a shrink context for every integer, record, tuple,
 * array and choice of the scenario (about a fifth of a run's time on amdkfd-style). {@link Gen.draw}
 * makes the same calls of `Random.nextInt`, with the same bounds and in the same order, as the
 * arbitrary's `generate` without bias (`generate(random, undefined)`, as a campaign calls it), so it
 * gives the same value; a failing run is generated again through {@link Gen.arb} to shrink it.
 * `gen.test.ts` holds the two to that over many seeds and shapes.
 */
import fc from 'fast-check';

/** A value's generator: its fast-check arbitrary and a draw of the same value without the tree. */
export abstract class Gen<T> {
  #arb: fc.Arbitrary<T> | undefined;

  /** The fast-check arbitrary, built on first use and kept (arbitraries hold no state). */
  get arb(): fc.Arbitrary<T> {
    this.#arb ??= this.build();
    return this.#arb;
  }

  /** Builds {@link Gen.arb}. */
  protected abstract build(): fc.Arbitrary<T>;

  /** The value of `this.arb.generate(random, undefined)`, drawn from `random` the same way, without its shrink tree. */
  abstract draw(random: fc.Random): T;

  /** As `Arbitrary.map`. */
  map<U>(f: (t: T) => U): Gen<U> {
    return new MapGen(this, f);
  }

  /** As `Arbitrary.chain`. */
  chain<U>(f: (t: T) => Gen<U>): Gen<U> {
    return new ChainGen(this, f);
  }
}

/** A weighted alternative of {@link oneof}. */
export interface Weighted<T> {
  /** Its weight among the alternatives. */
  readonly weight: number;
  /** Its generator. */
  readonly gen: Gen<T>;
}

class IntegerGen extends Gen<number> {
  private readonly min: number;
  private readonly max: number;
  constructor(min: number, max: number) {
    super();
    this.min = min;
    this.max = max;
  }
  protected build(): fc.Arbitrary<number> {
    return fc.integer({ min: this.min, max: this.max });
  }
  draw(random: fc.Random): number {
    return random.nextInt(this.min, this.max);
  }
}

class ConstantFromGen<T> extends Gen<T> {
  private readonly values: readonly T[];
  constructor(values: readonly T[]) {
    super();
    this.values = values;
  }
  protected build(): fc.Arbitrary<T> {
    return this.values.length === 1 ? fc.constant(this.values[0] as T) : fc.constantFrom(...this.values);
  }
  draw(random: fc.Random): T {
    // `fc.constantFrom` draws no index for a single value.
    const v = this.values;
    return (v.length === 1 ? v[0] : v[random.nextInt(0, v.length - 1)]) as T;
  }
}

class BooleanGen extends Gen<boolean> {
  protected build(): fc.Arbitrary<boolean> {
    return fc.boolean();
  }
  draw(random: fc.Random): boolean {
    return random.nextInt(0, 1) === 1;
  }
}

class TupleGen<T extends unknown[]> extends Gen<T> {
  private readonly gens: readonly Gen<unknown>[];
  constructor(gens: readonly Gen<unknown>[]) {
    super();
    this.gens = gens;
  }
  protected build(): fc.Arbitrary<T> {
    return fc.tuple(...this.gens.map((g) => g.arb)) as unknown as fc.Arbitrary<T>;
  }
  draw(random: fc.Random): T {
    const out: unknown[] = [];
    for (const g of this.gens) out.push(g.draw(random));
    return out as T;
  }
}

class RecordGen<T extends object> extends Gen<T> {
  private readonly keys: readonly string[];
  private readonly gens: readonly Gen<unknown>[];
  constructor(model: { readonly [K in keyof T]: Gen<T[K]> }) {
    super();
    this.keys = Object.keys(model);
    this.gens = this.keys.map((k) => (model as Record<string, Gen<unknown>>)[k] as Gen<unknown>);
  }
  protected build(): fc.Arbitrary<T> {
    const arbs: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [i, k] of this.keys.entries()) arbs[k] = (this.gens[i] as Gen<unknown>).arb;
    return fc.record(arbs) as unknown as fc.Arbitrary<T>;
  }
  draw(random: fc.Random): T {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.keys.length; i++) out[this.keys[i] as string] = (this.gens[i] as Gen<unknown>).draw(random);
    // `fc.record` draws one more boolean after the fields: whether the object it makes has a null
    // prototype. The draw takes it, to stay in step, and always makes a plain object.
    random.nextInt(0, 1);
    return out as T;
  }
}

class OneofGen<T> extends Gen<T> {
  private readonly bounds: number[] = [];
  private readonly total: number;
  private readonly alternatives: readonly Weighted<T>[];
  constructor(alternatives: readonly Weighted<T>[]) {
    super();
    this.alternatives = alternatives;
    let sum = 0;
    for (const a of alternatives) {
      sum += a.weight;
      this.bounds.push(sum);
    }
    this.total = sum;
  }
  protected build(): fc.Arbitrary<T> {
    return fc.oneof(...this.alternatives.map((a) => ({ weight: a.weight, arbitrary: a.gen.arb })));
  }
  draw(random: fc.Random): T {
    // `fc.oneof` outside recursion (depth 0) draws an index in [0, total weight).
    const x = random.nextInt(0, this.total - 1);
    for (let i = 0; i < this.bounds.length; i++)
      if (x < (this.bounds[i] as number)) return (this.alternatives[i] as Weighted<T>).gen.draw(random);
    throw new Error('oneof: no alternative drawn');
  }
}

/**
 * The most items `fc.array({ minLength, maxLength })` generates under fast-check's default global
 * settings (size "small": at most `2 * minLength + 10`), or undefined under other settings.
 */
function generatedMaxLength(minLength: number, maxLength: number): number | undefined {
  const g = fc.readConfigureGlobal();
  if (g.baseSize !== undefined || g.defaultSizeToMaxWhenMaxSpecified !== undefined) return undefined;
  return Math.min(2 * minLength + 10, maxLength);
}

class ArrayGen<T> extends Gen<T[]> {
  private readonly item: Gen<T>;
  private readonly minLength: number;
  private readonly maxLength: number;
  constructor(item: Gen<T>, minLength: number, maxLength: number) {
    super();
    this.item = item;
    this.minLength = minLength;
    this.maxLength = maxLength;
  }
  protected build(): fc.Arbitrary<T[]> {
    return fc.array(this.item.arb, { minLength: this.minLength, maxLength: this.maxLength });
  }
  draw(random: fc.Random): T[] {
    const most = generatedMaxLength(this.minLength, this.maxLength);
    // Other global settings size arrays otherwise: the arbitrary itself draws then.
    if (most === undefined) return this.arb.generate(random, undefined).value;
    const n = random.nextInt(this.minLength, most);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(this.item.draw(random));
    return out;
  }
}

class OptionGen<T, N> extends Gen<T | N> {
  private readonly item: Gen<T>;
  private readonly freq: number;
  private readonly nil: N;
  constructor(item: Gen<T>, freq: number, nil: N) {
    super();
    this.item = item;
    this.freq = freq;
    this.nil = nil;
  }
  protected build(): fc.Arbitrary<T | N> {
    return fc.option(this.item.arb, { nil: this.nil, freq: this.freq });
  }
  draw(random: fc.Random): T | N {
    // `fc.option` is a choice of the nil value (weight 1) and the item (weight freq - 1).
    return random.nextInt(0, this.freq - 1) < 1 ? this.nil : this.item.draw(random);
  }
}

class MapGen<S, T> extends Gen<T> {
  private readonly source: Gen<S>;
  private readonly f: (s: S) => T;
  constructor(source: Gen<S>, f: (s: S) => T) {
    super();
    this.source = source;
    this.f = f;
  }
  protected build(): fc.Arbitrary<T> {
    return this.source.arb.map(this.f);
  }
  draw(random: fc.Random): T {
    return this.f(this.source.draw(random));
  }
}

class ChainGen<S, T> extends Gen<T> {
  private readonly source: Gen<S>;
  private readonly f: (s: S) => Gen<T>;
  constructor(source: Gen<S>, f: (s: S) => Gen<T>) {
    super();
    this.source = source;
    this.f = f;
  }
  protected build(): fc.Arbitrary<T> {
    return this.source.arb.chain((s) => this.f(s).arb);
  }
  draw(random: fc.Random): T {
    return this.f(this.source.draw(random)).draw(random);
  }
}

/** As `fc.integer({ min, max })`. */
export function integer(range: { min: number; max: number }): Gen<number> {
  return new IntegerGen(range.min, range.max);
}

/** As `fc.nat(max)`. */
export function nat(max: number): Gen<number> {
  return new IntegerGen(0, max);
}

/** As `fc.boolean()`. */
export function boolean(): Gen<boolean> {
  return new BooleanGen();
}

/** As `fc.constant(value)`. */
export function constant<T>(value: T): Gen<T> {
  return new ConstantFromGen([value]);
}

/** As `fc.constantFrom(...values)`. */
export function constantFrom<const T>(...values: T[]): Gen<T> {
  return new ConstantFromGen(values);
}

/** As `fc.tuple(...)`. */
export function tuple<T extends unknown[]>(...gens: { [K in keyof T]: Gen<T[K]> }): Gen<T> {
  return new TupleGen<T>(gens as readonly Gen<unknown>[]);
}

/** As `fc.record(model)`, without its options; draws make plain objects. */
export function record<T extends object>(model: { readonly [K in keyof T]: Gen<T[K]> }): Gen<T> {
  return new RecordGen<T>(model);
}

/** As `fc.oneof(...)`, of generators (weight 1 each) or weighted ones. */
export function oneof<T extends unknown[]>(...alternatives: { [K in keyof T]: Gen<T[K]> | Weighted<T[K]> }): Gen<T[number]> {
  const all = alternatives as readonly (Gen<T[number]> | Weighted<T[number]>)[];
  return new OneofGen(all.map((a) => (a instanceof Gen ? { weight: 1, gen: a } : a)));
}

/** As `fc.array(item, { minLength, maxLength })`; `maxLength` is required. */
export function array<T>(item: Gen<T>, lengths: { minLength?: number; maxLength: number }): Gen<T[]> {
  return new ArrayGen(item, lengths.minLength ?? 0, lengths.maxLength);
}

/** As `fc.option(item, { nil, freq })`. */
export function option<T, N>(item: Gen<T>, options: { nil: N; freq: number }): Gen<T | N> {
  return new OptionGen(item, options.freq, options.nil);
}
