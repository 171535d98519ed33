// Quantization of one cache row to q8_0 (kv_q8_0.wgsl's layout), shared by rope_kv.wgsl and the
// fused decode passes (attention_decode_rope_common.wgsl). ggml's block (quantize_row_q8_0_ref),
// in f32: amax = max |x| over the block's 32 values, d = amax / 127, id = 1 / d (0 when d = 0),
// q = x * id rounded half away from zero, d stored as f16 (pack2x16float: nearest even).
// One thread quantizes a unit of two blocks (64 dims: 16 quant words and one scale word), so no
// two threads write the same word and no reduction across lanes is needed; the value source is
// called twice per element (amax, then the quants) and gives the same f32 both times.
// The including module binds `qkv` (f32) and `rope` and has rope_common.wgsl's `rotated`.

struct Q8Unit {
  q: array<u32, 16>,
  scales: u32,
  // Quant words in q: 16, or 8 for a last unit holding one block.
  words: u32,
}

// Dim d of the head row at qkv[src]: rotated (a key) or raw (a value).
fn q8Source(isK: bool, src: u32, d: u32) -> f32 {
  if (isK) {
    return rotated(src, d, rope.ropeDim);
  }
  return qkv[src + d];
}

// roundf: the integer nearest x, halves away from zero (x - trunc(x) is exact in f32).
fn roundHalfAway(x: f32) -> f32 {
  let t = trunc(x);
  return t + select(0.0, sign(x), abs(x - t) >= 0.5);
}

// Unit s (blocks 2s and 2s + 1, when below hd / 32) of the head row at qkv[src] of hd dims.
fn q8Unit(isK: bool, src: u32, s: u32, hd: u32) -> Q8Unit {
  var out: Q8Unit;
  let nb = min(2u, hd / 32u - 2u * s);
  out.scales = 0u;
  out.words = nb * 8u;
  for (var b = 0u; b < nb; b++) {
    let d0 = (2u * s + b) * 32u;
    var amax = 0.0;
    for (var i = 0u; i < 32u; i++) {
      amax = max(amax, abs(q8Source(isK, src, d0 + i)));
    }
    let d = amax / 127.0;
    var id = 0.0;
    if (d != 0.0) {
      id = 1.0 / d;
    }
    out.scales |= (pack2x16float(vec2<f32>(d, 0.0)) & 0xffffu) << (16u * b);
    for (var i = 0u; i < 8u; i++) {
      var word = 0u;
      for (var k = 0u; k < 4u; k++) {
        let qv = i32(roundHalfAway(q8Source(isK, src, d0 + 4u * i + k) * id));
        word |= (bitcast<u32>(qv) & 0xffu) << (8u * k);
      }
      out.q[b * 8u + i] = word;
    }
  }
  return out;
}
