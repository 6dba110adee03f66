/**
 * Driver definitions for the SVM mirror: probe creates the device (with device-private memory
 * whose `migrate_to_ram` finds the mirror through `zone_device_data`), bind opens a mirror of the
 * process. A bug-zoo case passes its mirror subclass and the policy it runs with.
 */
import { type Kernel, type Mm, type ProfileName, VM_FAULT_SIGBUS } from '@hmmlab/core';
import { Device, type DriverDefinition, defineDriver } from '@hmmlab/harness';
import { SvmMirror, type SvmPolicy } from './svm-mirror.js';

/** What a mirror class is built from. */
export type SvmMirrorClass = new (device: Device, mm: Mm, policy: Partial<SvmPolicy>) => SvmMirror;

/** The device of an SVM driver. */
export interface SvmDeviceOptions {
  /** Pages of device-private memory; 0 for a device without any. @defaultValue 64 */
  readonly memoryPages?: number;
  /** What a device atomic needs (see `DeviceOptions.atomics`). @defaultValue 'write' */
  readonly atomics?: 'write' | 'exclusive';
  /** The device caches translations. @defaultValue true */
  readonly tlb?: boolean;
  /** The device's page size, the granule of its TLB (see `DeviceOptions.pageSize`). @defaultValue the kernel's page size */
  readonly pageSize?: number;
  /** The device's page-walk cache (see `DeviceOptions.walkCache`). @defaultValue none */
  readonly walkCache?: { span: number };
}

/** Options of {@link svmDriver}. */
export interface SvmDriverOptions extends SvmDeviceOptions {
  readonly name: string;
  readonly description: string;
  /** @defaultValue ['latest'] */
  readonly profiles?: readonly ProfileName[];
  readonly policy?: Partial<SvmPolicy>;
  /** The mirror class. @defaultValue SvmMirror */
  readonly mirror?: SvmMirrorClass;
}

/** A GPU-like device named `name`, its memory's `migrate_to_ram` handled by the mirror that migrated the page. */
export function svmDevice(kernel: Kernel, name: string, o: SvmDeviceOptions = {}): Device {
  const pages = o.memoryPages ?? 64;
  return new Device(kernel, {
    name,
    tlb: o.tlb ?? true,
    atomics: o.atomics ?? 'write',
    ...(o.pageSize === undefined ? {} : { pageSize: o.pageSize }),
    ...(o.walkCache === undefined ? {} : { walkCache: o.walkCache }),
    ...(pages > 0
      ? {
          memory: {
            type: 'private' as const,
            pages,
            migrateToRam: (vmf) => {
              const m = vmf.page.zoneDeviceData;
              return m instanceof SvmMirror ? m.cpuFaultToRam(vmf) : VM_FAULT_SIGBUS;
            },
          },
        }
      : {}),
  });
}

/** Defines a one-device SVM driver. */
export function svmDriver(o: SvmDriverOptions): DriverDefinition<SvmMirror> {
  const Mirror = o.mirror ?? SvmMirror;
  return defineDriver({
    name: o.name,
    description: o.description,
    profiles: o.profiles ?? ['latest'],
    probe(kernel) {
      const device = svmDevice(kernel, 'gpu0', o);
      return {
        devices: [device],
        async bind(mm) {
          const m = new Mirror(device, mm, o.policy ?? {});
          await m.open();
          return m;
        },
      };
    },
  });
}
