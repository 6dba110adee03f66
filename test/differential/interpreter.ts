/**
 * The model side of the dmirror differential command language (kernel-oracle DIFF-LANGUAGE.md):
 * runs one script on a fresh model kernel with a dmirror port, and prints what `hmm-diff.c` prints
 * on the real kernel, one `<line> <verb> <result>` line per command. The argument checks, their
 * order and the `bad …` reasons are those of hmm-diff.c, so that a malformed command is rejected
 * the same way on both sides.
 */
import {
  errnoName,
  firstRunnable,
  Kernel,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Mm,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type ProfileName,
  SignalError,
} from '@hmmlab/core';
import type { DriverDefinition } from '@hmmlab/harness';
import type { Dmirror } from '../../examples/dmirror/dmirror.js';
import dmirror from '../../examples/dmirror/driver.js';
import {
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from '../../examples/dmirror/uapi.js';

const PS = 4096;
const WORDS = PS / 4;
/** Buffer `bN` lives at `BASE_ADDR + N * SLOT_SIZE`. */
const BASE_ADDR = 0x100000000000;
const SLOT_SIZE = 16 * 1024 * 1024;
const MAX_BUF_PAGES = 1024;
const MIN_PAGE = -64;
const MAX_PAGE = 2048;
const MAX_NPAGES = 2048;
const MAX_TOKENS = 16;
const U64_MAX = (1n << 64n) - 1n;

/** Options of {@link interpretScript}. */
export interface InterpretOptions {
  /** The dmirror driver to run (default: examples/dmirror). */
  readonly driver?: DriverDefinition<Dmirror>;
  /** Kernel profile (default `6.1`, the kernel the fixtures were recorded on). */
  readonly profile?: ProfileName;
}

/** A page's data token: `V` for the words V, V+1, …; `z` for zeros; `!<fnv1a-32>` otherwise. */
function pageToken(words: Int32Array): string {
  let zero = true;
  let pattern = true;
  const v = words[0] as number;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as number;
    if (w !== 0) zero = false;
    if (((w - v - i) | 0) !== 0) pattern = false;
  }
  if (zero) return 'z';
  if (pattern) return (v >>> 0).toString(16);
  let h = 0x811c9dc5;
  for (const b of new Uint8Array(words.buffer, words.byteOffset, words.byteLength)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `!${h.toString(16).padStart(8, '0')}`;
}

/** Comma-separated tokens, identical neighbours as `tok*count`. */
function tokenList(tokens: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; ) {
    let j = i;
    while (tokens[j + 1] === tokens[i]) j++;
    out.push(j > i ? `${tokens[i]}*${j - i + 1}` : (tokens[i] as string));
    i = j + 1;
  }
  return out.join(',');
}

/** The tokens of the first `n` pages of `buf`. */
function pagesOf(buf: Int32Array, n: number): string {
  return tokenList(Array.from({ length: n }, (_, p) => pageToken(buf.subarray(p * WORDS, (p + 1) * WORDS))));
}

/** The errno names hmm-diff.c prints (`errname`): `ENOENT`, or `E<n>` for one outside its list. */
function errName(ret: number): string {
  const n = errnoName(ret);
  return n.startsWith('-E') ? n.slice(1) : `E${-ret}`;
}

/** `strtoull(s, &end, 0)` accepting the whole token, no sign, no overflow (hmm-diff `parse_u64`). */
function parseU64(s: string): bigint | null {
  let v: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = BigInt(s);
  else if (/^0[0-7]*$/.test(s)) v = s.length === 1 ? 0n : BigInt(`0o${s.slice(1)}`);
  else if (/^[1-9][0-9]*$/.test(s)) v = BigInt(s);
  else return null;
  return v > U64_MAX ? null : v;
}

function parseBuf(s: string): number {
  return /^b[0-7]$/.test(s) ? Number(s[1]) : -1;
}

function parseDev(s: string): number {
  return /^d[0-3]$/.test(s) ? Number(s[1]) : -1;
}

function parseProt(s: string): number | null {
  if (s === 'rw') return PROT_READ | PROT_WRITE;
  if (s === 'r') return PROT_READ;
  if (s === 'none') return PROT_NONE;
  return null;
}

/** `PAGE[+OFF]` (hmm-diff `parse_page`): the `+` is looked for after the first character, as `strtol` takes a sign. */
function parsePage(s: string): { page: number; off: number } | null {
  const plus = s.indexOf('+', 1);
  let off = 0;
  let head = s;
  if (plus >= 0) {
    const o = parseU64(s.slice(plus + 1));
    if (o === null || o >= BigInt(PS)) return null;
    off = Number(o);
    head = s.slice(0, plus);
  }
  if (!/^[+-]?[0-9]+$/.test(head)) return null;
  const page = Number(head);
  if (page < MIN_PAGE || page > MAX_PAGE) return null;
  return { page, off };
}

function parseNpages(s: string): number | null {
  const n = parseU64(s);
  return n === null || n > BigInt(MAX_NPAGES) ? null : Number(n);
}

/** Thrown by an argument check: the command prints `bad <why>`. */
class Bad {
  readonly why: string;
  constructor(why: string) {
    this.why = why;
  }
}

const bufAddr = (b: number, page: number, off: number) => BASE_ADDR + b * SLOT_SIZE + page * PS + off;

/**
 * Runs `script` in a fresh model kernel (pages of 4 KiB, 1024 words) and returns the lines
 * `hmm-diff SCRIPT` prints. A model exception ends the script with `model-error <message>`.
 */
export async function interpretScript(script: string, options: InterpretOptions = {}): Promise<string[]> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: WORDS, profile: options.profile ?? '6.1', trace: 'none' });
  const instance = await (options.driver ?? dmirror).probe(k);
  const mm = k.createMm();
  const out: string[] = [];
  k.spawn('hmm-diff', 'cpu', async () => {
    const s = new Session(mm, (d) => instance.bind(mm, { device: d }));
    const lines = script.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const argv = (lines[i] as string)
        .replace(/#.*/, '')
        .split(/[ \t\r\n]+/)
        .filter(Boolean);
      if (argv.length === 0) continue;
      const lineno = i + 1;
      if (argv.length > MAX_TOKENS) {
        out.push(`${lineno} ? bad too-many-tokens`);
        continue;
      }
      const verb = argv[0] as string;
      try {
        out.push(`${lineno} ${verb} ${await s.run(verb, argv.slice(1))}`);
      } catch (e) {
        if (e instanceof Bad) {
          out.push(`${lineno} ${verb} bad ${e.why}`);
          continue;
        }
        out.push(`${lineno} ${verb} model-error ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
    }
    await s.exit();
  });
  const run = await k.run(firstRunnable);
  if (run.status !== 'done' && !(out[out.length - 1] ?? '').includes(' model-error '))
    out.push(`model-run ${run.status}: ${run.message ?? ''}`);
  return out;
}

/** The state of one hmm-diff process: declared buffers, open device files, the held child. */
class Session {
  private readonly declared = new Map<number, number>();
  private readonly fds = new Map<number, Dmirror>();
  /** Device files closed while a `dev` mapping still holds them: released when no VMA maps them. */
  private readonly held: Dmirror[] = [];
  private child: Mm | null = null;
  /** hmm-diff's static scratch buffer: never cleared between commands. */
  private readonly scratch = new Int32Array(MAX_NPAGES * WORDS);

  private readonly mm: Mm;
  private readonly open: (d: number) => Promise<Dmirror>;

  constructor(mm: Mm, open: (d: number) => Promise<Dmirror>) {
    this.mm = mm;
    this.open = open;
  }

  private async dev(d: number): Promise<Dmirror> {
    let fd = this.fds.get(d);
    if (fd === undefined) {
      fd = await this.open(d);
      this.fds.set(d, fd);
    }
    return fd;
  }

  private buf(s: string): number {
    const b = parseBuf(s);
    if (b < 0) throw new Bad('buffer');
    if (!this.declared.has(b)) throw new Bad('undeclared');
    return b;
  }

  /** `dmirror_fops_release` of closed files once the last mapping of them is gone (`fput` from `remove_vma`). */
  private async releaseUnmapped(): Promise<void> {
    for (let i = this.held.length - 1; i >= 0; i--) {
      const fd = this.held[i] as Dmirror;
      if (this.mm.vmas.some((v) => v.file === fd.file)) continue;
      this.held.splice(i, 1);
      await fd.unbind();
    }
  }

  /** The result of one command (after `<line> <verb> `). */
  async run(verb: string, a: readonly string[]): Promise<string> {
    const nargs = (n: number) => {
      if (a.length !== n) throw new Bad('arity');
    };
    const page = (s: string) => {
      const p = parsePage(s);
      if (p === null) throw new Bad('page');
      return p;
    };
    const npages = (s: string) => {
      const n = parseNpages(s);
      if (n === null) throw new Bad('npages');
      return n;
    };
    const value = (s: string) => {
      const v = parseU64(s);
      if (v === null) throw new Bad('value');
      return Number(v & 0xffffffffn) | 0;
    };
    const dev = (s: string) => {
      const d = parseDev(s);
      if (d < 0) throw new Bad('device');
      return d;
    };
    switch (verb) {
      case 'mmap':
        return this.mmap(a);
      case 'munmap':
      case 'madvise_dontneed':
      case 'mprotect': {
        let prot = 0;
        if (verb === 'mprotect') {
          nargs(4);
          const p = parseProt(a[3] as string);
          if (p === null) throw new Bad('prot');
          prot = p;
        } else nargs(3);
        const b = this.buf(a[0] as string);
        const { page: p, off } = page(a[1] as string);
        const n = npages(a[2] as string);
        const addr = bufAddr(b, p, off);
        const r =
          verb === 'munmap'
            ? await this.mm.munmap(addr, n * PS)
            : verb === 'mprotect'
              ? await this.mm.mprotect(addr, n * PS, prot)
              : await this.mm.madvise(addr, n * PS, MADV_DONTNEED);
        if (verb === 'munmap') await this.releaseUnmapped();
        return r === 0 ? 'ok' : `err=${errName(r)}`;
      }
      case 'cpu_write':
      case 'child_write': {
        nargs(3);
        const b = this.buf(a[0] as string);
        const { page: p, off } = page(a[1] as string);
        const v = value(a[2] as string);
        if (off !== 0) throw new Bad('page');
        const target = verb === 'child_write' ? this.heldChild() : this.mm;
        const sig = await cpuWrite(target, bufAddr(b, p, 0), v);
        return sig === null ? 'ok' : `sig=${sig}`;
      }
      case 'cpu_read':
      case 'child_read': {
        nargs(2);
        const b = this.buf(a[0] as string);
        const { page: p, off } = page(a[1] as string);
        if (off !== 0) throw new Bad('page');
        const target = verb === 'child_read' ? this.heldChild() : this.mm;
        const r = await cpuRead(target, bufAddr(b, p, 0));
        return typeof r === 'string' ? `ok data=${r}` : `sig=${r.sig}`;
      }
      case 'cpu_dump': {
        nargs(1);
        const b = this.buf(a[0] as string);
        const toks: string[] = [];
        for (let i = 0; i < (this.declared.get(b) as number); i++) {
          const r = await cpuRead(this.mm, bufAddr(b, i, 0));
          toks.push(typeof r === 'string' ? r : r.sig === 'SIGSEGV' ? 'segv' : 'bus');
        }
        return `ok data=${tokenList(toks)}`;
      }
      case 'dev_read':
      case 'dev_write':
      case 'migrate_to_dev':
      case 'migrate_to_sys':
      case 'snapshot':
      case 'exclusive':
      case 'check_exclusive': {
        const isWrite = verb === 'dev_write';
        nargs(isWrite ? 5 : 4);
        const d = dev(a[0] as string);
        const b = this.buf(a[1] as string);
        const { page: p, off } = page(a[2] as string);
        const n = npages(a[3] as string);
        if (isWrite) {
          const v = value(a[4] as string);
          for (let i = 0; i < n * WORDS; i++) this.scratch[i] = (v + i) | 0;
        }
        const request = {
          dev_read: HMM_DMIRROR_READ,
          dev_write: HMM_DMIRROR_WRITE,
          migrate_to_dev: HMM_DMIRROR_MIGRATE_TO_DEV,
          migrate_to_sys: HMM_DMIRROR_MIGRATE_TO_SYS,
          snapshot: HMM_DMIRROR_SNAPSHOT,
          exclusive: HMM_DMIRROR_EXCLUSIVE,
          check_exclusive: HMM_DMIRROR_CHECK_EXCLUSIVE,
        }[verb];
        const fd = await this.dev(d);
        const c = await fd.cmd(request, { addr: bufAddr(b, p, off), npages: n, ptr: this.scratch });
        if (c.ret !== 0) return `err=${errName(c.ret)}`;
        switch (verb) {
          case 'dev_read':
            return `ok cpages=${c.cpages} faults=${c.faults} data=${pagesOf(this.scratch, n)}`;
          case 'dev_write':
            return `ok cpages=${c.cpages} faults=${c.faults}`;
          case 'migrate_to_dev':
          case 'exclusive':
            return `ok cpages=${c.cpages} data=${pagesOf(this.scratch, n)}`;
          case 'migrate_to_sys':
            return `ok cpages=${c.cpages}`;
          case 'snapshot': {
            const bytes = new Uint8Array(this.scratch.buffer, 0, n);
            return `ok cpages=${c.cpages} prot=${[...bytes].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
          }
          default:
            return 'ok';
        }
      }
      case 'release': {
        nargs(1);
        const fd = await this.dev(dev(a[0] as string));
        const c = await fd.cmd(HMM_DMIRROR_RELEASE, { addr: 0, npages: 1, ptr: this.scratch });
        return c.ret === 0 ? 'ok' : `err=${errName(c.ret)}`;
      }
      case 'close': {
        nargs(1);
        const d = dev(a[0] as string);
        const fd = this.fds.get(d);
        if (fd === undefined) return 'noop';
        this.fds.delete(d);
        this.held.push(fd);
        await this.releaseUnmapped();
        return 'ok';
      }
      case 'fork_child_write':
      case 'fork_child_read': {
        const isWrite = verb === 'fork_child_write';
        nargs(isWrite ? 3 : 2);
        const b = this.buf(a[0] as string);
        const { page: p, off } = page(a[1] as string);
        if (off !== 0) throw new Bad('page');
        const v = isWrite ? value(a[2] as string) : 0;
        // The child closes its copies of the device files: the model's files are per process already.
        const child = await this.mm.fork();
        const addr = bufAddr(b, p, 0);
        let r: string;
        if (isWrite) {
          const sig = await cpuWrite(child, addr, v);
          r = `child=${sig ?? 'ok'}`;
        } else {
          const t = await cpuRead(child, addr);
          r = typeof t === 'string' ? `child=ok data=${t}` : `child=${t.sig}`;
        }
        await child.exit();
        return `ok ${r}`;
      }
      case 'fork_hold':
        nargs(0);
        if (this.child !== null) throw new Bad('already-holding');
        this.child = await this.mm.fork();
        return 'ok';
      case 'child_exit':
        nargs(0);
        await this.heldChild().exit();
        this.child = null;
        return 'ok';
      default:
        throw new Bad('unknown-command');
    }
  }

  private heldChild(): Mm {
    if (this.child === null) throw new Bad('no-child');
    return this.child;
  }

  private async mmap(a: readonly string[]): Promise<string> {
    if (a.length !== 4 && a.length !== 5) throw new Bad('arity');
    const b = parseBuf(a[0] as string);
    if (b < 0) throw new Bad('buffer');
    const n = parseU64(a[1] as string);
    if (n === null || n > BigInt(MAX_BUF_PAGES)) throw new Bad('npages');
    const prot = parseProt(a[2] as string);
    if (prot === null) throw new Bad('prot');
    let d = -1;
    let flags: number;
    if (a[3] === 'private' && a.length === 4) flags = MAP_PRIVATE | MAP_ANONYMOUS;
    else if (a[3] === 'shared' && a.length === 4) flags = MAP_SHARED | MAP_ANONYMOUS;
    else if (a[3] === 'dev' && a.length === 5) {
      d = parseDev(a[4] as string);
      if (d < 0) throw new Bad('device');
      flags = MAP_PRIVATE;
    } else throw new Bad('kind');
    const addr = bufAddr(b, 0, 0);
    // A re-mmap of a buffer name first clears its whole slot.
    await this.mm.munmap(addr, SLOT_SIZE);
    await this.releaseUnmapped();
    this.declared.set(b, Number(n));
    const file = d >= 0 ? (await this.dev(d)).file : null;
    // The slot is free now: MAP_FIXED places the mapping where MAP_FIXED_NOREPLACE does.
    const r = await this.mm.mmap(addr, Number(n) * PS, prot, flags | MAP_FIXED, file, 0);
    return r === addr ? 'ok' : `err=${errName(r)}`;
  }

  /** Process exit: the held child goes, then the device files. */
  async exit(): Promise<void> {
    if (this.child !== null) await this.child.exit();
    this.child = null;
  }
}

/** `cpu_write` of one page: the pattern `v + i` into its words. Returns the signal, or null. */
async function cpuWrite(mm: Mm, addr: number, v: number): Promise<string | null> {
  try {
    await mm.writeRange(
      addr,
      Int32Array.from({ length: WORDS }, (_, i) => (v + i) | 0),
    );
    return null;
  } catch (e) {
    if (e instanceof SignalError) return e.signal;
    throw e;
  }
}

/** `cpu_read` of one page: its token, or the signal. */
async function cpuRead(mm: Mm, addr: number): Promise<string | { sig: string }> {
  try {
    return pageToken(await mm.readRange(addr, WORDS));
  } catch (e) {
    if (e instanceof SignalError) return { sig: e.signal };
    throw e;
  }
}
