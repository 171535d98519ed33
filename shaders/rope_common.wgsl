// RoPE helpers shared by rope_kv.wgsl and attention_decode_rope.wgsl (prepended to both, after
// `struct RopeParams`, generated from RopeKvKernel.uniforms in src/kernels/rope_kv.ts).
// The including shader declares `override WG` and binds
//   qkv: array<f32>        the raw rows the heads are rotated from
//   factors: array<f32>    [ropeDim/2] LongRoPE factors
//   rope: RopeParams
// and declares `table: array<vec2<f32>, N>` (workgroup (cos, sin) * attnFactor per pair, N >= ropeDim/2).
//
// theta_i = (pos * thetaScale^i) / factors[i], thetaScale = f32(base^(-2/ropeDim)) from the CPU,
// computed exactly like llama.cpp's ggml_rope_cache_init: theta = f32(pos), then theta *= thetaScale
// once per pair index in f32 (same f32 values, not pow()).
//   NEOX:   pairs (i, i + ropeDim/2)   out_a = x_a c - x_b s,  out_b = x_a s + x_b c
//   !NEOX:  pairs (2i, 2i + 1)         (GPT-J / llama "norm" style)
// Dims ropeDim .. headDim-1 pass through unchanged.
// sin/cos are our own (range reduction mod pi/2 in four parts, exact for theta < 2^17 * pi/2,
// then Cephes polynomials on [-pi/4, pi/4]): WGSL's builtins promise nothing for |theta| > pi,
// theta_0 = pos reaches the thousands, and SwiftShader's builtins are off by ~1e-3 at pos 4000.
// Measured against llama.cpp's angles with f64 sin/cos: <= 3.5e-7 absolute at any position.

override NEOX: bool = true;

// pi/2 = C1 + C2 + C3 + C4 (+ 6e-17); C1..C3 have at most 7 significant bits, so k * Ci is exact
// for k < 2^17 and each subtraction below is exact too; only the last product rounds.
const C1: f32 = 1.578125;
const C2: f32 = -0.00732421875;
const C3: f32 = -0.000004470348358154297;
const C4: f32 = 1.5893254712295857e-8;
const TWO_OVER_PI: f32 = 0.6366197723675814;

// (sin x, cos x) for x >= 0, within ~2 ulp of the exact values of the f32 argument.
fn sinCos(x: f32) -> vec2<f32> {
  let k = floor(x * TWO_OVER_PI + 0.5);
  let r = (((x - k * C1) - k * C2) - k * C3) - k * C4;
  let z = r * r;
  // Cephes sinf / cosf minimax polynomials, |r| <= pi/4.
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (u32(k) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

// (cos, sin) * attnFactor for pair i at position pos.
fn cosSinScaled(pos: u32, i: u32, thetaScale: f32, attnFactor: f32) -> vec2<f32> {
  var theta = f32(pos);
  for (var k = 0u; k < i; k++) {
    theta *= thetaScale;
  }
  let sc = sinCos(theta / factors[i]);
  return vec2<f32>(sc.y * attnFactor, sc.x * attnFactor);
}

// Fills `table` for position pos, all threads of the workgroup together; ends with a barrier.
fn ropeTable(lid: u32, pos: u32) {
  for (var i = lid; i < rope.ropeDim / 2u; i += WG) {
    table[i] = cosSinScaled(pos, i, rope.thetaScale, rope.attnFactor);
  }
  workgroupBarrier();
}

// Element d of the rotated head whose raw values are qkv[src + 0 .. src + headDim].
fn rotated(src: u32, d: u32, rd: u32) -> f32 {
  if (d >= rd) {
    return qkv[src + d];
  }
  var a: u32;
  var b: u32;
  var i: u32;
  var first: bool;
  if (NEOX) {
    let half = rd / 2u;
    first = d < half;
    i = select(d - half, d, first);
    a = i;
    b = i + half;
  } else {
    first = (d & 1u) == 0u;
    i = d / 2u;
    a = 2u * i;
    b = a + 1u;
  }
  let cs = table[i];
  let xa = qkv[src + a];
  let xb = qkv[src + b];
  return select(xa * cs.y + xb * cs.x, xa * cs.x - xb * cs.y, first);
}
