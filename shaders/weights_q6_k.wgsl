// Q6_K weights, split: wq holds each 210-byte super-block minus its trailing f16 d, i.e. 208 bytes
// = 13 vec4<u32>: [0..7] = ql[128], [8..11] = qh[64], [12] = scales[16] (i8); ws holds the d's
// (weights_split_d.wgsl).
// Half n (0..1) of a block covers 128 elements from ql[64n..], qh[32n..], scales[8n..]; for
// l = 0..31 the four runs r = 0..3 give element 128n + 32r + l:
//   r0 = low nibble of ql[64n+l],    bits 0-1 of qh[32n+l]     r1 = low nibble of ql[64n+32+l], bits 2-3
//   r2 = high nibble of ql[64n+l],   bits 4-5                  r3 = high nibble of ql[64n+32+l], bits 6-7
// value = d * scales[8n + l/16 + 2r] * (q - 32). One chunk = half n, l in 16t .. 16t+16 (t = 0..1)
// for all four runs = 64 elements, read as three vec4 of quants plus the scales vec4.

// Value vec4 j: run j/4, words j%4.
fn chunk_vec(c: u32, j: u32) -> u32 {
  return (c >> 2u) * 64u + ((c >> 1u) & 1u) * 32u + (c & 1u) * 4u + (j >> 2u) * 8u + (j & 3u);
}

struct XChunk {
  // the activations times LANE_SCALE (see lanes)
  v: array<vec4<f32>, 16>,
  // sum of each run's 16 activations, for the -32 offset
  s: vec4<f32>,
}

fn prep_x(v: array<vec4<f32>, 16>) -> XChunk {
  let s = vec4<f32>(
    hsum((v[0] + v[1]) + (v[2] + v[3])),
    hsum((v[4] + v[5]) + (v[6] + v[7])),
    hsum((v[8] + v[9]) + (v[10] + v[11])),
    hsum((v[12] + v[13]) + (v[14] + v[15])),
  );
  // This loop stays a loop: as an array constructor (constant indices) it made lavapipe's matvec,
  // whose row loop is unrolled, 3-4x slower with 30 s of JIT; it runs once per chunk, not per row.
  var xs: array<vec4<f32>, 16>;
  for (var j = 0u; j < 16u; j++) {
    xs[j] = v[j] * LANE_SCALE;
  }
  return XChunk(xs, s);
}

// The 6-bit values (0..63) of word i of the chunk for the four runs, byte-packed.
fn q6_words(a: u32, b: u32, h: u32) -> vec4<u32> {
  return vec4<u32>(
    (a & 0x0F0F0F0Fu) | ((h & 0x03030303u) << 4u),
    (b & 0x0F0F0F0Fu) | (((h >> 2u) & 0x03030303u) << 4u),
    ((a >> 4u) & 0x0F0F0F0Fu) | (((h >> 4u) & 0x03030303u) << 4u),
    ((b >> 4u) & 0x0F0F0F0Fu) | (((h >> 6u) & 0x03030303u) << 4u),
  );
}

struct Q6Chunk {
  // q[i] = the four runs' values of word i
  q: array<vec4<u32>, 4>,
  // d * scale of each run (exact in f32: 11 + 8 bits)
  ds: vec4<f32>,
}

fn q6_load(row: u32, c: u32) -> Q6Chunk {
  let nb = params.k / BLOCK;
  let b = c >> 2u;
  let n = (c >> 1u) & 1u;
  let t = c & 1u;
  let base = (row * nb + b) * 13u;
  let a = wq[base + 4u * n + t];
  let bb = wq[base + 4u * n + 2u + t];
  let h = wq[base + 8u + 2u * n + t];
  let sc = wq[base + 12u];
  let d = block_d(row, b);
  // scales 8n + t + 2r: bytes t, t+2 of word 2n (r = 0, 1) and of word 2n+1 (r = 2, 3)
  let s0 = select(sc.x, sc.z, n == 1u);
  let s1 = select(sc.y, sc.w, n == 1u);
  let ds = d * vec4<f32>(sbyte(s0, t), sbyte(s0, t + 2u), sbyte(s1, t), sbyte(s1, t + 2u));
  var out: Q6Chunk;
  out.ds = ds;
  out.q[0] = q6_words(a.x, bb.x, h.x);
  out.q[1] = q6_words(a.y, bb.y, h.y);
  out.q[2] = q6_words(a.z, bb.z, h.z);
  out.q[3] = q6_words(a.w, bb.w, h.w);
  return out;
}

// The runs' dot products, written out: constant indices only (SwiftShader keeps loops, and a
// loop-indexed local array becomes per-lane memory accesses there).
fn chunk_dot(row: u32, c: u32, xc: XChunk) -> f32 {
  let w = q6_load(row, c);
  let q0 = w.q[0];
  let q1 = w.q[1];
  let q2 = w.q[2];
  let q3 = w.q[3];
  let qx = vec4<f32>(
    hsum((lanes(q0.x) * xc.v[0] + lanes(q1.x) * xc.v[1]) + (lanes(q2.x) * xc.v[2] + lanes(q3.x) * xc.v[3])),
    hsum((lanes(q0.y) * xc.v[4] + lanes(q1.y) * xc.v[5]) + (lanes(q2.y) * xc.v[6] + lanes(q3.y) * xc.v[7])),
    hsum((lanes(q0.z) * xc.v[8] + lanes(q1.z) * xc.v[9]) + (lanes(q2.z) * xc.v[10] + lanes(q3.z) * xc.v[11])),
    hsum((lanes(q0.w) * xc.v[12] + lanes(q1.w) * xc.v[13]) + (lanes(q2.w) * xc.v[14] + lanes(q3.w) * xc.v[15])),
  );
  return dot(w.ds, qx - 32.0 * xc.s);
}

fn dequant_chunk(row: u32, c: u32) -> array<vec4<f32>, 16> {
  let w = q6_load(row, c);
  let q0 = w.q[0];
  let q1 = w.q[1];
  let q2 = w.q[2];
  let q3 = w.q[3];
  let d = w.ds;
  return array<vec4<f32>, 16>(
    d.x * (bytes4(q0.x) - 32.0), d.x * (bytes4(q1.x) - 32.0), d.x * (bytes4(q2.x) - 32.0), d.x * (bytes4(q3.x) - 32.0),
    d.y * (bytes4(q0.y) - 32.0), d.y * (bytes4(q1.y) - 32.0), d.y * (bytes4(q2.y) - 32.0), d.y * (bytes4(q3.y) - 32.0),
    d.z * (bytes4(q0.z) - 32.0), d.z * (bytes4(q1.z) - 32.0), d.z * (bytes4(q2.z) - 32.0), d.z * (bytes4(q3.z) - 32.0),
    d.w * (bytes4(q0.w) - 32.0), d.w * (bytes4(q1.w) - 32.0), d.w * (bytes4(q2.w) - 32.0), d.w * (bytes4(q3.w) - 32.0),
  );
}
