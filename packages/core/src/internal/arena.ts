/**
 * Small typed arrays carved from shared buffers. V8 keeps a typed array of up to 64 bytes inside
 * the heap; a larger one gets a buffer of its own outside it, which costs 1.8 to 2.8 µs to make,
 * where a view of an existing buffer costs 0.1 to 0.2 µs. The model makes such arrays for every
 * kernel (its first contents slabs) and every 64 mapped pages (a page-table leaf), and a campaign
 * makes a kernel every run: those come from arenas of 16 KiB instead. A piece is handed out once:
 * it is zero, as a new buffer is, and an arena lives as long as any piece of it. Arenas of 256 KiB
 * made the model's round 7 to 9% slower (likely because the C allocator maps a buffer that large
 * afresh, and its pages fault in at first touch).
 */

/** Bytes of an arena. */
const ARENA_BYTES = 16384;

/** Hands out zeroed typed arrays of one kind, as views of shared arenas (see the module comment). */
export class ViewArena<T> {
  private buffer: ArrayBuffer | null = null;
  private next = ARENA_BYTES;
  private readonly bytesPerElement: number;
  private readonly view: (buffer: ArrayBuffer, offset: number, length: number) => T;

  /**
   * @param bytesPerElement - of the arrays made
   * @param view - makes an array of `length` elements over `buffer` from byte `offset`
   */
  constructor(bytesPerElement: number, view: (buffer: ArrayBuffer, offset: number, length: number) => T) {
    this.bytesPerElement = bytesPerElement;
    this.view = view;
  }

  /** A zeroed array of `length` elements; at most `ARENA_BYTES` bytes. */
  carve(length: number): T {
    const bytes = length * this.bytesPerElement;
    if (this.buffer === null || this.next + bytes > ARENA_BYTES) {
      this.buffer = new ArrayBuffer(ARENA_BYTES);
      this.next = 0;
    }
    const a = this.view(this.buffer, this.next, length);
    this.next += bytes;
    return a;
  }
}
