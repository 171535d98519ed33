/**
 * A tiny Phi-3-small for the app: a generated checkpoint as Microsoft publishes it
 * (scripts/make-hf-checkpoint.ts), with its final LayerNorm bias moved along `<|end|>`'s
 * embedding so that the chat reply to "Hello" is a few tokens and then `<|end|>`, converted by our
 * converter. The bias is chosen by running the independent float64 reference
 * (scripts/phi3small-ref.ts) with the app's greedy sampling (temperature 0 and its repetition
 * penalty over the last 64 ids), and the checkpoint is patched in place before conversion, so the
 * converted file is an ordinary conversion of a checkpoint whose reply is known.
 *
 * Why the bias: the logits are embed . h / width with h = LayerNorm(x) w + b, so adding d to b adds
 * embed[t] . d / width to logit t at every step. Along `<|end|>`'s own embedding that lifts
 * `<|end|>` most and the rest a little; the smallest lift that makes `<|end|>` win at some step
 * after the second, while every earlier step keeps its token with a clear margin, gives the reply.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import { makeHfCheckpoint } from '../scripts/make-hf-checkpoint.ts';
import { convertCheckpoint } from '../scripts/convert.ts';
import { loadCheckpoint, type RefModel } from '../scripts/phi3small-ref.ts';
import { readSafetensorsHeader } from '../src/model/safetensors.ts';
import { fileSource } from '../src/model/source-node.ts';
import { bf16ToF32, f32ToBf16 } from '../src/model/quant/index.ts';
import { CHAT_DEFAULTS, PENALTY_WINDOW } from '../src/common/sampling.ts';
import { sampleZ } from '../src/kernels/sample.ref.ts';
import type { SampleSettings } from '../src/kernels/sample.ts';

const END = 100266;
const IDS = { bos: 100257, user: 100262, assistant: 100263, end: END };
/** Smallest gap, in logits, between the chosen token and the runner-up at every step of the reply. */
const MIN_MARGIN = 0.3;

export interface PlantedModel {
  /** The scratch folder holding the checkpoint and the GGUF (the caller removes it). */
  dir: string;
  gguf: string;
  prompt: number[];
  /** The reply's ids before `<|end|>`. */
  reply: number[];
  /** The smallest gap between the chosen token and the runner-up over the reply's steps. */
  margin: number;
  seed: number;
}

/** "<|endoftext|><|user|>\nHello<|end|>\n<|assistant|>\n" as Phi-3-small's tokenizer makes it. */
export function helloPrompt(): number[] {
  const tt = new Tiktoken(cl100kBase);
  return [IDS.bos, IDS.user, ...tt.encode('\nHello'), IDS.end, ...tt.encode('\n'), IDS.assistant, ...tt.encode('\n')];
}

/** The app's greedy reply for `prompt` (the sampler's CPU reference: penalized logits, argmax); stops at `<|end|>` or after `max`. */
function simulate(model: RefModel, prompt: number[], max: number): { ids: number[]; margins: number[] } {
  const settings: SampleSettings = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: CHAT_DEFAULTS.repetitionPenalty, penaltyWindow: PENALTY_WINDOW, seed: 0, nTop: 0 };
  const s = model.session(512);
  let logits: Float64Array | null = null;
  for (let i = 0; i < prompt.length; i++) logits = s.step(prompt[i], i === prompt.length - 1);
  const seq = [...prompt];
  const ids: number[] = [];
  const margins: number[] = [];
  for (let n = 0; n < max; n++) {
    // the engine's logits are f32, and its penalty counts the last PENALTY_WINDOW ids
    const z = sampleZ(Float32Array.from(logits!), seq.slice(-PENALTY_WINDOW), settings);
    let best = 0;
    for (let t = 1; t < z.length; t++) if (z[t] > z[best]) best = t;
    let second = -Infinity;
    for (let t = 0; t < z.length; t++) if (t !== best && z[t] > second) second = z[t];
    ids.push(best);
    margins.push(z[best] - second);
    if (best === END) break;
    seq.push(best);
    logits = s.step(best);
  }
  return { ids, margins };
}

/** The final bias moved by beta along `<|end|>`'s embedding, rounded to bf16 as the checkpoint stores it. */
function plantedBias(model: RefModel, base: Float32Array, beta: number): Float32Array {
  const H = base.length;
  const e = model.embed.subarray(END * H, (END + 1) * H);
  const norm = Math.hypot(...e);
  return base.map((b, i) => bf16ToF32(f32ToBf16(b + (beta * e[i]) / norm)));
}

/** Writes `values` as bf16 over the tensor `name` of the single-file checkpoint in `dir`. */
async function patchTensor(dir: string, name: string, values: Float32Array): Promise<void> {
  const path = join(dir, 'model.safetensors');
  const src = await fileSource(path);
  const header = await readSafetensorsHeader(src).finally(() => src.close());
  const t = header.tensors.get(name);
  if (!t || t.dtype !== 'BF16' || t.nbytes !== 2 * values.length) throw new Error(`patchTensor: ${name} is not a bf16 tensor of ${values.length} values`);
  const bytes = new Uint8Array(t.nbytes);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint16(2 * i, f32ToBf16(v), true));
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, t.offset);
  } finally {
    closeSync(fd);
  }
}

/** Generates, plants and converts; tries seeds from `firstSeed` until one gives a reply of 2..10 tokens with clear margins. */
export async function plantedPhi3Small(firstSeed = 1): Promise<PlantedModel> {
  const prompt = helloPrompt();
  for (let seed = firstSeed; seed < firstSeed + 20; seed++) {
    const dir = mkdtempSync(join(tmpdir(), 'phi3small-e2e-'));
    const hf = join(dir, 'hf');
    await makeHfCheckpoint(hf, { preset: 'tiny', seed });
    const model = await loadCheckpoint(hf);
    const base = Float32Array.from(model.lnfb);
    let chosen: { beta: number; reply: number[]; margin: number } | undefined;
    for (let k = 1; k <= 32; k++) {
      const beta = 0.25 * k;
      model.lnfb.set(plantedBias(model, base, beta));
      const { ids, margins } = simulate(model, prompt, 12);
      if (ids.at(-1) !== END || ids.length < 3) continue;
      const margin = Math.min(...margins);
      if (margin >= MIN_MARGIN && (!chosen || margin > chosen.margin)) chosen = { beta, reply: ids.slice(0, -1), margin };
    }
    if (!chosen) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const bias = plantedBias(model, base, chosen.beta);
    await patchTensor(hf, 'model.final_layernorm.bias', bias);
    // the patched checkpoint, read back by the reference, gives the same reply
    const check = simulate(await loadCheckpoint(hf), prompt, 12);
    if (check.ids.join() !== [...chosen.reply, END].join()) throw new Error(`plantedPhi3Small: the patched checkpoint replies ${check.ids} instead of ${chosen.reply},${END}`);
    const gguf = join(dir, 'phi3-small-tiny-f16.gguf');
    await convertCheckpoint(hf, gguf, { type: 'f16', name: 'Phi-3-small tiny (generated)' });
    return { dir, gguf, prompt, reply: chosen.reply, margin: chosen.margin, seed };
  }
  throw new Error(`plantedPhi3Small: no seed in ${firstSeed}..${firstSeed + 19} gives a short reply with clear margins`);
}
