/**
 * mlx5-odp-style: an RDMA NIC with on-demand paging (drivers/infiniband/hw/mlx5/odp.c,
 * drivers/infiniband/core/umem_odp.c): an implicit ODP MR over the process, page faults served
 * through `ib_umem_odp_map_dma_and_lock`, DMA mappings removed by the invalidation after the NIC's
 * translations are zapped. No device memory. See README.md.
 */
import { Device, defineDriver } from '@hmmlab/harness';
import { Mlx5ImplicitMr } from './odp.js';

export default defineDriver<Mlx5ImplicitMr>({
  name: 'mlx5-odp-style',
  description: 'mlx5 ODP: umem_mutex, set_seq then the npages == 0 shortcut, zap then DMA unmap, foreign device pages faulted back',
  profiles: ['latest'],
  probe(kernel) {
    // An ODP-capable HCA: page faults are recoverable (the NIC retries the access).
    const dev = new Device(kernel, { name: 'mlx5_0', faultMode: 'replayable', atomics: 'write' });
    return {
      devices: [dev],
      // ibv_reg_mr(IBV_ACCESS_ON_DEMAND) over the whole address space: mlx5_ib_alloc_implicit_mr.
      bind: async (mm) => new Mlx5ImplicitMr(dev, mm),
    };
  },
});
