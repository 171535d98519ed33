// matvec.wgsl's epilogue in split-K (SPLIT > 1): workgroup (i, s) holds, in thread lid < ROWS,
// the sum over its run s of the chunks of row row0 + lid, and adds it to y[y_offset + row0 + lid].
// SPLIT workgroups add to each row, in an order no one controls, and WGSL has no float atomics:
// each add is a compare-and-swap loop on the f32's bits, so no add is lost (a swap succeeds only
// on the bits it read; the first to try always succeeds, so the loop ends). The order of the adds
// is the hardware's, so the last bits of y may differ between runs. Only with params.accumulate:
// y holds the value added to (the residual stream); nothing here can zero it first.
//
// y is linear_bindings.wgsl's binding 3 declared as array<atomic<u32>> (the same f32 bits; the
// module assembly in src/kernels/gemv.ts swaps the declaration), so gemv_store_y.wgsl is not in
// this module.

fn store_rows(wg: u32, lid: u32, row0: u32, total: f32) {
  if (lid < ROWS && row0 + lid < params.rows) {
    let i = params.y_offset + row0 + lid;
    var old = atomicLoad(&y[i]);
    loop {
      let r = atomicCompareExchangeWeak(&y[i], old, bitcast<u32>(bitcast<f32>(old) + total));
      if (r.exchanged) {
        break;
      }
      old = r.old_value;
    }
  }
}
