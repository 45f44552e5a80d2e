import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { Checkpoint } from '@autoround/core-tensor';
import { Registry } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import modelsPlugin, { loadTokenizer, readConfig } from '@autoround/models';
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
for (const f of ['gemma2', 'gemma3']) {
  const dir = `/tmp/dense/${f}`;
  const model = await llama.loadModel({ modelPath: `/tmp/dense/${f}-F32.gguf` });
  const ctx = await model.createContext({ contextSize: 128, threads: 1 });
  const seq = ctx.getSequence();
  const tok = loadTokenizer(dir);
  const ids = [1, ...tok.encode('Once upon a time, there was a little girl named Lily. She liked to play outside in the park with her dog. One day, she saw a big red ball under a tree.', { addSpecialTokens: false })];
  const out = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as never));
  const reg = new Registry().use(modelsPlugin);
  const config = readConfig(dir);
  const arch = reg.architecture(config.architectures![0]!, dir);
  const lm = arch.load(arch.describe(config, dir), Checkpoint.open(dir), jsBackend.create({}));
  const logits = lm.forward(Int32Array.from(ids));
  const V = 512;
  let nllA = 0, nllB = 0, maxd = 0;
  for (let j = 0; j + 1 < ids.length; j++) {
    const p = out[j]!.next.probabilities!;
    const pa = p.get(ids[j + 1] as never) ?? 0;
    const row = logits.subarray(j * V, (j + 1) * V);
    let mx = -Infinity; for (const v of row) mx = Math.max(mx, v);
    let s = 0; for (const v of row) s += Math.exp(v - mx);
    const lp = row[ids[j + 1]!]! - mx - Math.log(s);
    nllA += -Math.log(pa); nllB += -lp; maxd = Math.max(maxd, Math.abs(Math.log(pa) - lp));
    if (j < 3) console.log(j, p.size, pa, Math.exp(lp));
  }
  const n = ids.length - 1;
  console.log(f, 'llama.cpp ppl', Math.exp(nllA / n), 'ours', Math.exp(nllB / n), 'max |dlogp|', maxd);
  await ctx.dispose(); await model.dispose();
}
