import { firstNonFiniteF32 } from '@autoround/core-tensor';
import { AutoRoundError, type CausalLM, type WeightSource, isBlockwise } from '@autoround/core';

/**
 * Why a window's score came out NaN or ±Inf, as an AutoRoundError naming the first place of the
 * forward pass that produced a non-finite value: the window is run again block by block, each
 * linear layer's input and each block's output checked, so that a user learns which layer (and,
 * given the model's weights, which tensor) to look at instead of reading a "perplexity: null".
 */
export function nonFiniteScoreError(model: CausalLM, input: Int32Array, window: number, what: string, weights?: WeightSource): AutoRoundError {
  const spec = model.spec;
  const at = `at window ${window}`;
  const found = locate(model, input);
  const tensors = found ? found.tensors : [...spec.blocks.flatMap((b) => b.tensors), spec.embedding, spec.finalNorm, spec.lmHead];
  const culprit = weights ? nonFiniteTensor(weights, tensors) : undefined;
  const where = found ? `${found.place} is ${found.value} ${at}${found.position >= 0 ? ` (token position ${found.position})` : ''}` : `the logits are finite but their score is not ${at}`;
  return new AutoRoundError('E_NONFINITE', `${what} is not finite: ${where}${culprit ? `; ${culprit}` : ''}`, { subject: found?.subject ?? spec.lmHead });
}

interface Found {
  /** What produced the value, e.g. "model.layers.3.self_attn output". */
  place: string;
  subject: string;
  value: string;
  /** Token position within the window, −1 when unknown. */
  position: number;
  /** The tensors that can have caused it (to look for a non-finite weight among). */
  tensors: string[];
}

function firstBad(x: Float32Array, width: number): { value: string; position: number } | undefined {
  const i = firstNonFiniteF32(x);
  return i < 0 ? undefined : { value: String(x[i]), position: width > 0 ? Math.floor(i / width) : -1 };
}

/** The first place of the forward pass of `input` whose output holds a NaN or ±Inf. */
function locate(model: CausalLM, input: Int32Array): Found | undefined {
  const spec = model.spec;
  const H = spec.hiddenSize;
  const head = [spec.finalNorm, spec.tiedEmbeddings ? spec.embedding : spec.lmHead, spec.lmHead];
  if (!isBlockwise(model)) {
    const bad = firstBad(model.forward(input), spec.vocabSize);
    return bad ? { place: 'the logits', subject: spec.lmHead, ...bad, tensors: [...spec.blocks.flatMap((b) => b.tensors), spec.embedding, ...head] } : undefined;
  }
  let x = model.embedTokens(input);
  const emb = firstBad(x, H);
  if (emb) return { place: `${spec.embedding.replace(/\.weight$/, '')} output`, subject: spec.embedding, ...emb, tensors: [spec.embedding] };
  const T = input.length;
  for (let i = 0; i < model.numBlocks; i++) {
    const block = spec.blocks[i];
    const prefix = block?.prefix ?? `${spec.blockListName}.${i}`;
    // the first linear whose input is not finite: its module (self_attn, mlp) made it when an earlier
    // linear of the same module ran (the attention between q/k/v and o_proj), else what came before
    let seen: { linear: string; value: string; position: number; earlier: string[] } | undefined;
    const modules: string[] = [];
    const linears: string[] = [];
    const out = model.blockForward(i, x, T, {
      onLinearInput: (linear, xin, _rows, inF) => {
        if (seen) return;
        const mod = linear.includes('.') ? linear.slice(0, linear.lastIndexOf('.')) : linear;
        const bad = firstBad(xin, inF);
        if (bad) seen = { linear, ...bad, earlier: [...linears] };
        linears.push(linear);
        if (!modules.includes(mod)) modules.push(mod);
      },
    });
    const tensors = block?.tensors.slice() ?? [];
    if (seen) {
      const mod = seen.linear.includes('.') ? seen.linear.slice(0, seen.linear.lastIndexOf('.')) : '';
      const sameModule = seen.earlier.filter((l) => mod && l.startsWith(`${mod}.`));
      const place = sameModule.length > 0 ? `${prefix}.${mod} output (the input of ${prefix}.${seen.linear})` : seen.earlier.length > 0 ? `${prefix}.${seen.earlier[seen.earlier.length - 1]} output (the input of ${prefix}.${seen.linear})` : `the input of ${prefix}.${seen.linear} (after the block's first norm)`;
      return { place, subject: `${prefix}.${mod || seen.linear}`, value: seen.value, position: seen.position, tensors };
    }
    const bad = firstBad(out, H);
    if (bad) {
      const last = linears[linears.length - 1];
      return { place: last ? `${prefix}.${last} output` : `${prefix} output`, subject: prefix, ...bad, tensors };
    }
    x = out;
  }
  const bad = firstBad(model.forward(input), spec.vocabSize);
  return bad ? { place: `the final norm and ${spec.lmHead.replace(/\.weight$/, '')} (the logits)`, subject: spec.lmHead, ...bad, tensors: head } : undefined;
}

/** "model.layers.3.self_attn.q_proj.weight holds NaN at element 17" for the first non-finite tensor of `names`. */
function nonFiniteTensor(weights: WeightSource, names: readonly string[]): string | undefined {
  for (const n of new Set(names)) {
    if (!weights.has(n)) continue;
    let data: Float32Array;
    try {
      data = weights.readFloat32(n).data;
    } catch {
      continue; // the location above is the answer then; a tensor that cannot be read is another error
    }
    const i = firstNonFiniteF32(data);
    if (i >= 0) return `${n} holds ${data[i]} at element ${i}`;
  }
  return undefined;
}
