/**
 * Device-side trace events. Every device state change is an event, so the oracle and the
 * timeline see the device as they see the kernel.
 */

declare module '@hmmlab/core' {
  interface TraceEventMap {
    /** A device page-table entry changed (`old`/`new` are device entries, 0 = none). */
    'dev-pte': { dev: string; vm: number; va: number; old: number; new: number; why: string };
    /** The device TLB: a translation cached, a flush issued, a flush completed. */
    'dev-tlb': {
      dev: string;
      vm: number;
      op: 'fill' | 'flush-issue' | 'flush-complete';
      start: number;
      end: number;
      fence: number;
      /** For 'fill': the cached entry. */
      entry: number;
      /** For a flush: it evicts the leaf TLB only, not the page-walk cache (absent: every level). */
      leafOnly?: true;
    };
    /** A DMA mapping of a system page was created or removed. */
    dma: { dev: string; pfn: number; op: 'map' | 'unmap'; write: boolean };
    /**
     * Driver state shared between tasks (a SharedCell or a key of a SharedMap, shared.ts) was read
     * or written. `obj` identifies the object within the process, `key` the map key ('' for a cell).
     */
    'shared-access': { obj: number; name: string; key: string; write: boolean; atomic: boolean };
    /**
     * A device address space's lifecycle: the binding starts or ends its `unbind`, the address
     * space is freed (`destroy`), or driver code uses one that was freed (`use-after-free`, `what`
     * names the use).
     */
    'dev-vm': { dev: string; vm: number; op: 'unbind-start' | 'unbind-end' | 'destroy' | 'use-after-free'; what: string };
    /** Device queues stopped or restarted. */
    'dev-queue': { dev: string; op: 'quiesce' | 'resume' };
    /** The device read, wrote or did an atomic on `va`, hitting page `pfn`. */
    'dev-access': {
      dev: string;
      vm: number;
      va: number;
      kind: 'read' | 'write' | 'atomic';
      value: number;
      pfn: number;
      via: 'tlb' | 'pt';
      /**
       * Set when driver code made the access itself through its page table
       * (`DeviceVm.accessMapped`, test_hmm's `dmirror_do_read` / `dmirror_do_write`) rather than
       * the device's hardware.
       */
      driver?: true;
    };
    /**
     * A device access missed or lacked permission: `begin` when the driver's fault handler is
     * called, `end` with its result (or a fatal fault, with `fatal` set).
     */
    'dev-fault': {
      dev: string;
      vm: number;
      va: number;
      kind: 'read' | 'write' | 'atomic';
      phase: 'begin' | 'end';
      result: number;
      fatal: boolean;
    };
  }
}

export {};
