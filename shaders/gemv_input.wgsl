// The input of the matvec drivers (matvec.wgsl, matvec_groups.wgsl) as bound: x is
// linear_bindings.wgsl's storage vector, so there is nothing to prepare. The attention-merge form
// of this file is matvec_merge.wgsl.

fn gemv_input(lid: u32) {}
