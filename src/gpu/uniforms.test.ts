import { describe, expect, it } from 'vitest';
import { UniformLayout } from './uniforms.ts';

describe('UniformLayout', () => {
  const layout = new UniformLayout([
    ['n', 'u32'],
    ['shift', 'i32'],
    ['scale', 'f32'],
  ] as const);

  it('packs the fields in declaration order, 4 bytes each, the struct padded to 16 bytes', () => {
    const view = new DataView(layout.pack({ n: 7, shift: -2, scale: 0.5 }));
    expect(view.byteLength).toBe(16);
    expect([view.getUint32(0, true), view.getInt32(4, true), view.getFloat32(8, true)]).toEqual([7, -2, 0.5]);
  });

  it('declares the WGSL struct with the same fields in the same order', () => {
    expect(layout.wgsl('P')).toBe('struct P {\n  n: u32,\n  shift: i32,\n  scale: f32,\n}\n');
  });
});
