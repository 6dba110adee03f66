/**
 * Device-side trace events. Every device state change is an event, so the oracle and the
 * timeline see the device as they see the kernel.
 */

import type { TraceEventMap, TraceStamp } from '@hmmlab/core';

declare module '@hmmlab/core' {
  interface TraceEventMap {
    /**
     * A device page-table entry changed (`old`/`new` are device entries, 0 = none).
     * @prop __type.dev - the device's name
     * @prop __type.vm - the device address space's id
     * @prop __type.va - the virtual address
     * @prop __type.old - the entry before
     * @prop __type.new - the entry after
     * @prop __type.why - the driver path that changed it
     */
    'dev-pte': { dev: string; vm: number; va: number; old: number; new: number; why: string };
    /** The device TLB: a translation cached, a flush issued, a flush completed. */
    'dev-tlb': {
      /** The device's name. */
      dev: string;
      /** The device address space's id. */
      vm: number;
      /** A translation cached, a flush issued, a flush completed. */
      op: 'fill' | 'flush-issue' | 'flush-complete';
      /** First address of the flushed range (for 'fill': the page's address). */
      start: number;
      /** End (exclusive) of the flushed range or of the cached page. */
      end: number;
      /** The fence of the flush (0 for 'fill'). */
      fence: number;
      /** For 'fill': the cached entry. */
      entry: number;
      /** For a flush: it evicts the leaf TLB only, not the page-walk cache (absent: every level). */
      leafOnly?: true;
    };
    /**
     * A DMA mapping of a system page was created or removed.
     * @prop __type.dev - the device's name
     * @prop __type.pfn - the system page
     * @prop __type.op - mapped or unmapped
     * @prop __type.write - mapped for device writes
     */
    dma: { dev: string; pfn: number; op: 'map' | 'unmap'; write: boolean };
    /**
     * Driver state shared between tasks (a SharedCell or a key of a SharedMap, shared.ts) was read
     * or written. `obj` identifies the object within the process, `key` the map key ('' for a cell).
     * @prop __type.obj - the object's id within the process
     * @prop __type.name - the object's name
     * @prop __type.key - the map key, '' for a cell
     * @prop __type.write - a write (else a read)
     * @prop __type.atomic - an atomic access (`READ_ONCE`, `WRITE_ONCE`, an atomic op)
     */
    'shared-access': { obj: number; name: string; key: string; write: boolean; atomic: boolean };
    /**
     * A device address space's lifecycle: the binding starts or ends its `unbind`, the address
     * space is freed (`destroy`), or driver code uses one that was freed (`use-after-free`, `what`
     * names the use).
     * @prop __type.dev - the device's name
     * @prop __type.vm - the device address space's id
     * @prop __type.op - the step of its life
     * @prop __type.what - for 'use-after-free': the use
     */
    'dev-vm': { dev: string; vm: number; op: 'unbind-start' | 'unbind-end' | 'destroy' | 'use-after-free'; what: string };
    /**
     * Device queues stopped or restarted.
     * @prop __type.dev - the device's name
     * @prop __type.op - stopped or restarted
     */
    'dev-queue': { dev: string; op: 'quiesce' | 'resume' };
    /** The device read, wrote or did an atomic on `va`, hitting page `pfn`. */
    'dev-access': {
      /** The device's name. */
      dev: string;
      /** The device address space's id. */
      vm: number;
      /** The virtual address. */
      va: number;
      /** The kind of access. */
      kind: 'read' | 'write' | 'atomic';
      /** The word read or written, or the atomic's result. */
      value: number;
      /** The page hit. */
      pfn: number;
      /** Whether the translation came from the TLB or a page-table walk. */
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
      /** The device's name. */
      dev: string;
      /** The device address space's id. */
      vm: number;
      /** The faulting address. */
      va: number;
      /** The kind of access. */
      kind: 'read' | 'write' | 'atomic';
      /** Before or after the fault handler. */
      phase: 'begin' | 'end';
      /** For 'end': the handler's result. */
      result: number;
      /** For 'end': the fault could not be resolved and kills the device context. */
      fatal: boolean;
    };
    /**
     * A device access the driver failed with `-EBUSY` or `-EAGAIN` made again once every program
     * of the run is done (`World.failedAccesses`): `begin` before it, `end` with its result (0,
     * or the errno it failed with again).
     */
    'dev-retry': {
      /** The device's name. */
      dev: string;
      /** The device address space's id. */
      vm: number;
      /** The address. */
      va: number;
      /** The kind of access. */
      kind: 'read' | 'write' | 'atomic';
      /** The errno the access failed with first. */
      errno: number;
      /** The step it failed at first. */
      failedAt: number;
      /** Before or after the retry. */
      phase: 'begin' | 'end';
      /** For 'end': 0, or the errno the retry failed with. */
      result: number;
    };
  }
}

/**
 * Payload fields that would collide with what `Trace.emit` sets on every event (its place in the
 * trace, step and task): `emit` overwrites them, so no event kind may use those names. `never`
 * while no kind of the core's or of this file does; otherwise the assignment below fails to compile.
 */
type StampClash = {
  [K in keyof TraceEventMap]: Extract<keyof TraceEventMap[K], keyof TraceStamp>;
}[keyof TraceEventMap];
const noStampClash: [StampClash] extends [never] ? true : false = true;
void noStampClash;
