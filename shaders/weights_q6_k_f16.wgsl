// Q6_K with f16 math (quant_f16.wgsl; the layout and chunks are weights_q6_k.wgsl's): the signed
// values q - 32 (-32..31, exact in f16) times the f16 activations, each run's 16 elements summed
// per lane in f16, then y = 2^e * sum_runs (d * scale_run) * sum_lanes(run) in f32. The offset is
// folded into the integers, so no activation sums are needed.

// Value vec4 j: run j/4, words j%4.
fn chunk_vec(c: u32, j: u32) -> u32 {
  return (c >> 2u) * 64u + ((c >> 1u) & 1u) * 32u + (c & 1u) * 4u + (j >> 2u) * 8u + (j & 3u);
}

struct XChunk {
  // x * 2^-e in f16, the largest |x| in [0.5, 1)
  h: array<vec4<f16>, 16>,
  // 2^e
  scale: f32,
}

fn prep_x(v: array<vec4<f32>, 16>) -> XChunk {
  var m = vec4<f32>();
  for (var j = 0u; j < 16u; j++) {
    m = max(m, abs(v[j]));
  }
  let e = h_chunk_exp(m);
  var h: array<vec4<f16>, 16>;
  for (var j = 0u; j < 16u; j++) {
    h[j] = h_scaled(v[j], e);
  }
  return XChunk(h, ldexp(1.0, e));
}

// The 6-bit values (0..63) of word i of the chunk for the four runs, byte-packed.
fn q6h_words(a: u32, b: u32, h: u32) -> vec4<u32> {
  return vec4<u32>(
    (a & 0x0F0F0F0Fu) | ((h & 0x03030303u) << 4u),
    (b & 0x0F0F0F0Fu) | (((h >> 2u) & 0x03030303u) << 4u),
    ((a >> 4u) & 0x0F0F0F0Fu) | (((h >> 4u) & 0x03030303u) << 4u),
    ((b >> 4u) & 0x0F0F0F0Fu) | (((h >> 6u) & 0x03030303u) << 4u),
  );
}

// q - 32 of the four bytes of w.
fn q6h_vals(w: u32) -> vec4<f16> {
  return h_bytes4(w) - vec4<f16>(32.0h);
}

fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let nb = params.k / BLOCK;
  let b = c >> 2u;
  let n = (c >> 1u) & 1u;
  let t = c & 1u;
  let base = (row * nb + b) * 13u;
  let a = wq[base + 4u * n + t];
  let bb = wq[base + 4u * n + 2u + t];
  let h = wq[base + 8u + 2u * n + t];
  let sc = wq[base + 12u];
  // scales 8n + t + 2r: bytes t, t+2 of word 2n (r = 0, 1) and of word 2n+1 (r = 2, 3)
  let s0 = select(sc.x, sc.z, n == 1u);
  let s1 = select(sc.y, sc.w, n == 1u);
  let ds = (xc.scale * block_d(row, b)) * vec4<f32>(sbyte(s0, t), sbyte(s0, t + 2u), sbyte(s1, t), sbyte(s1, t + 2u));
  let q0 = q6h_words(a.x, bb.x, h.x);
  let q1 = q6h_words(a.y, bb.y, h.y);
  let q2 = q6h_words(a.z, bb.z, h.z);
  let q3 = q6h_words(a.w, bb.w, h.w);
  // run r: word i's values of run r are byte lane r of q_i (constant indices only, as weights_q6_k.wgsl)
  let r0 = (q6h_vals(q0.x) * xc.h[0] + q6h_vals(q1.x) * xc.h[1]) + (q6h_vals(q2.x) * xc.h[2] + q6h_vals(q3.x) * xc.h[3]);
  let r1 = (q6h_vals(q0.y) * xc.h[4] + q6h_vals(q1.y) * xc.h[5]) + (q6h_vals(q2.y) * xc.h[6] + q6h_vals(q3.y) * xc.h[7]);
  let r2 = (q6h_vals(q0.z) * xc.h[8] + q6h_vals(q1.z) * xc.h[9]) + (q6h_vals(q2.z) * xc.h[10] + q6h_vals(q3.z) * xc.h[11]);
  let r3 = (q6h_vals(q0.w) * xc.h[12] + q6h_vals(q1.w) * xc.h[13]) + (q6h_vals(q2.w) * xc.h[14] + q6h_vals(q3.w) * xc.h[15]);
  return dot(ds, vec4<f32>(hsum(vec4<f32>(r0)), hsum(vec4<f32>(r1)), hsum(vec4<f32>(r2)), hsum(vec4<f32>(r3))));
}
