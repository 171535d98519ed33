/**
 * A uniform struct whose fields are all 4-byte scalars (u32, i32, f32): packs its values in
 * declaration order, padded to 16 bytes as WGSL's uniform layout requires for the struct size,
 * and writes the WGSL struct the shaders declare, so that the two cannot drift apart.
 */
export type UniformField = readonly [name: string, type: 'u32' | 'i32' | 'f32'];

export class UniformLayout<K extends string> {
  readonly byteSize: number;
  private readonly index = new Map<string, [number, UniformField[1]]>();
  constructor(readonly fields: readonly (readonly [K, UniformField[1]])[]) {
    fields.forEach(([name, type], i) => this.index.set(name, [i, type]));
    this.byteSize = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  }

  pack(values: Record<K, number>, out = new ArrayBuffer(this.byteSize)): ArrayBuffer {
    const view = new DataView(out);
    for (const [name, [i, type]] of this.index) {
      const v = values[name as K];
      if (v === undefined) throw new Error(`uniform field ${name} missing`);
      if (type === 'f32') view.setFloat32(i * 4, v, true);
      else if (type === 'i32') view.setInt32(i * 4, v, true);
      else view.setUint32(i * 4, v, true);
    }
    return out;
  }

  /** The WGSL declaration of this struct, for the shaders that bind it (prepended to their source). */
  wgsl(name: string): string {
    return `struct ${name} {\n${this.fields.map(([field, type]) => `  ${field}: ${type},\n`).join('')}}\n`;
  }
}
