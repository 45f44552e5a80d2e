// The fuzz targets: every reader of outside input, each with valid seed files generated in a temporary folder
// (the demo model writer, the exporters, hyparquet-writer) and the call that `auto-round` makes on such input.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { AutoRound, createRegistry, openModel, silentLogger, weightsOf, writeDemoModel, type Registry } from '@autoround/autoround';
import { SafetensorsFile, ShardedSafetensorsWriter, isFloatDType } from '@autoround/core-tensor';
import gguf, { exportGguf, formatGgufInfo, readGgufWeights } from '@autoround/export-gguf';
import { architectureOf, loadTokenizer, readConfig } from '@autoround/models';
import { readLocalFile } from '@autoround/calib-datasets';
import { writeSynthModel } from '../../packages/export-gguf/test/fixtures.js';
import { lengthFields, type SeedKind } from './mutate.js';

/** One file of a seed: its path inside the seed folder, its valid bytes, and how it is structured. */
export interface SeedFile {
  readonly rel: string;
  readonly bytes: Uint8Array;
  readonly kind: SeedKind;
  /** Offsets of its length-like fields (lengthFields), for the 'huge' mutation. */
  readonly fields: readonly number[];
}

/** A valid input: a folder of files, one of which each fuzz input mutates. */
export interface Seed {
  readonly name: string;
  /** The files a mutation may change (a folder seed's other files are copied as they are). */
  readonly files: readonly SeedFile[];
  /** Files copied unchanged (large weights a config-level mutation should not have to rewrite). */
  readonly fixed: readonly { rel: string; bytes: Uint8Array }[];
}

export interface FuzzTarget {
  readonly name: string;
  readonly what: string;
  /** Writes its valid inputs under `work` (a fresh temporary folder) and returns them. */
  seeds(work: string): Promise<Seed[]>;
  /**
   * Parses the input the way the toolkit does: `dir` is the seed folder with one file mutated, `file` that
   * file's path. Returns anything, or throws; anything thrown that is not an AutoRoundError is a crash.
   */
  run(dir: string, file: string): unknown;
}

const kindOf = (rel: string): SeedKind =>
  rel.endsWith('.safetensors') ? 'safetensors' : rel.endsWith('.jsonl') ? 'jsonl' : rel.endsWith('.json') ? 'json' : rel.endsWith('.txt') ? 'text' : 'binary';

function seedFile(rel: string, bytes: Uint8Array): SeedFile {
  return { rel, bytes, kind: kindOf(rel), fields: lengthFields(bytes) };
}

/** A seed from a folder on disk: `mutable` names the files to mutate, the rest are copied unchanged. */
function folderSeed(name: string, dir: string, mutable: (rel: string) => boolean): Seed {
  const files: SeedFile[] = [];
  const fixed: { rel: string; bytes: Uint8Array }[] = [];
  for (const rel of readdirSync(dir).sort()) {
    const bytes = new Uint8Array(readFileSync(join(dir, rel)));
    if (mutable(rel)) files.push(seedFile(rel, bytes));
    else fixed.push({ rel, bytes });
  }
  if (!files.length) throw new Error(`fuzz seed ${name}: no mutable file in ${dir}`);
  return { name, files, fixed };
}

const oneFile = (name: string, rel: string, bytes: Uint8Array): Seed => ({ name, files: [seedFile(rel, bytes)], fixed: [] });

/** The demo model, small: a LLaMA with one 32-wide layer (every linear a multiple of 32, so all formats pack it). */
const TINY = { hidden: 32, intermediate: 64, layers: 1, heads: 2, kvHeads: 2 };

let registry: Promise<Registry> | undefined;
const getRegistry = () => (registry ??= createRegistry({ discover: false, plugins: [gguf] }));

/** The demo model written once per work folder. */
function demoModel(work: string): string {
  const dir = join(work, 'demo-model');
  try {
    readFileSync(join(dir, 'config.json'));
  } catch {
    writeDemoModel(dir, TINY);
  }
  return dir;
}

/** A model folder quantized by RTN (no tuning) into `format`. */
async function exported(work: string, format: string): Promise<string> {
  const out = join(work, `export-${format.replace(/:/g, '-')}`);
  const ar = new AutoRound(demoModel(work), { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf] });
  await ar.quantizeAndSave(out, { format });
  return out;
}

/** Every tensor the model needs, read as `auto-round eval` reads a folder (the format's reader for packed ones). */
async function readFolder(dir: string): Promise<number> {
  const reg = await getRegistry();
  const model = openModel(reg, dir);
  try {
    const w = weightsOf(reg, model);
    const spec = model.spec;
    let n = 0;
    for (const t of [spec.embedding, spec.finalNorm, ...spec.blocks.flatMap((b) => b.tensors), ...(w.has(spec.lmHead) ? [spec.lmHead] : [])]) {
      if (w.has(t)) n += w.readFloat32(t).data.length;
    }
    return n;
  } finally {
    model.checkpoint.close();
  }
}

function exportedFolderTarget(name: string, formats: string[]): FuzzTarget {
  return {
    name,
    what: `the ${formats.join(' / ')} folder reader (config.json, quantization_config.json, packed model.safetensors) as \`auto-round eval\` reads it`,
    async seeds(work) {
      const out: Seed[] = [];
      for (const f of formats) out.push(folderSeed(f, await exported(work, f), (rel) => /\.(json|safetensors|gguf)$/.test(rel) && !rel.startsWith('tokenizer')));
      return out;
    },
    run: (dir) => readFolder(dir),
  };
}

const enc = new TextEncoder();
const TEXT = 'Once upon a time there was a little clock.\nIt ticked.\n\nThe end, naïve café 東京 😀.\n';

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'safetensors',
    what: 'the safetensors reader (SafetensorsFile: header, dtypes, offsets, every tensor read and widened)',
    async seeds(work) {
      const small = join(work, 'safetensors-small');
      mkdirSync(small);
      const w = new ShardedSafetensorsWriter(small);
      w.add('a.f32', 'F32', [2, 3], Float32Array.from([1, -2, 3.5, 0, 1e-3, -7]));
      w.add('b.f16', 'F16', [4], Uint16Array.from([0x3c00, 0xbc00, 0x7bff, 0x0001]));
      w.add('c.bf16', 'BF16', [2, 2], Uint16Array.from([0x3f80, 0xbf80, 0x4000, 0x0000]));
      w.add('d.i32', 'I32', [3], Int32Array.from([1, -1, 2 ** 31 - 1]));
      w.add('e.u8', 'U8', [5], Uint8Array.from([0, 1, 2, 254, 255]));
      w.add('f.f8', 'F8_E4M3', [4], Uint8Array.from([0x38, 0xb8, 0x7e, 0x00]));
      w.add('g.empty', 'F32', [0, 4], new Float32Array(0));
      w.close();
      return [oneFile('small', 'model.safetensors', readFileSync(join(small, 'model.safetensors'))), oneFile('demo', 'model.safetensors', readFileSync(join(demoModel(work), 'model.safetensors')))];
    },
    run(_dir, file) {
      const f = SafetensorsFile.open(file);
      try {
        let n = 0;
        for (const name of f.names) {
          const t = f.read(name);
          n += isFloatDType(t.dtype) ? t.toFloat32().data.length : t.data.length;
        }
        return n + Object.keys(f.metadata).length;
      } finally {
        f.close();
      }
    },
  },
  {
    name: 'gguf',
    what: 'the GGUF reader (gguf-info, and every tensor dequantized to float32 with Hugging Face names)',
    async seeds(work) {
      const out: Seed[] = [];
      for (const fileType of ['Q8_0', 'Q4_0', 'F16']) {
        const file = join(work, `demo-${fileType}.gguf`);
        await exportGguf({ modelDir: demoModel(work), outFile: file, fileType, threads: 1 });
        out.push(oneFile(fileType, 'model.gguf', readFileSync(file)));
      }
      return out;
    },
    run(_dir, file) {
      const info = formatGgufInfo(file);
      const w = readGgufWeights(file, {});
      let n = info.length;
      for (const name of w.names) n += w.readFloat32(name).data.length;
      return n;
    },
  },
  {
    name: 'config',
    what: 'config.json loading (readConfig, the architecture, and the model description it implies)',
    async seeds(work) {
      const synth = join(work, 'synth-qwen3');
      writeSynthModel(synth, { kind: 'qwen3', hidden: 64, heads: 4, kvHeads: 2, headDim: 16, inter: 96, layers: 2, vocab: 300, tied: true });
      const llama3 = join(work, 'synth-llama3');
      writeSynthModel(llama3, { kind: 'llama3', hidden: 64, heads: 4, kvHeads: 2, headDim: 16, inter: 96, layers: 2, vocab: 300, tied: false });
      return [
        oneFile('demo', 'config.json', readFileSync(join(demoModel(work), 'config.json'))),
        oneFile('qwen3', 'config.json', readFileSync(join(synth, 'config.json'))),
        oneFile('llama3', 'config.json', readFileSync(join(llama3, 'config.json'))),
        oneFile('gptq', 'config.json', readFileSync(join(await exported(work, 'auto_gptq'), 'config.json'))),
      ];
    },
    async run(dir) {
      const config = readConfig(dir);
      const file = join(dir, 'config.json');
      const reg = await getRegistry();
      const spec = reg.architecture(architectureOf(config, file), file).describe(config, file);
      return spec.blocks.length;
    },
  },
  {
    name: 'tokenizer',
    what: 'tokenizer.json + tokenizer_config.json loading (loadTokenizer, then encode and decode a text)',
    async seeds(work) {
      const synth = join(work, 'synth-qwen2');
      writeSynthModel(synth, { kind: 'qwen2', hidden: 64, heads: 4, kvHeads: 2, headDim: 16, inter: 96, layers: 1, vocab: 300, tied: true });
      const tok = (rel: string) => rel.startsWith('tokenizer');
      const only = (name: string, dir: string): Seed => {
        const s = folderSeed(name, dir, tok);
        return { ...s, fixed: [] };
      };
      return [only('sentencepiece-bpe', demoModel(work)), only('byte-level-bpe', synth)];
    },
    run(dir) {
      const t = loadTokenizer(dir);
      const ids = t.encode(TEXT);
      return t.decode(ids).length + ids.length;
    },
  },
  {
    name: 'dataset-txt',
    what: 'local .txt calibration files (documents split at blank lines, and one per line)',
    async seeds() {
      return [oneFile('stories', 'data.txt', enc.encode(`${TEXT}\n\n${TEXT}\r\n\r\nlast\n`))];
    },
    run: async (_dir, file) => (await readLocalFile(file)).length + (await readLocalFile(file, { lines: true })).length,
  },
  {
    name: 'dataset-json',
    what: 'local .json calibration files (a list of records, or an object of them; text fields and chat messages)',
    async seeds() {
      return [
        oneFile('records', 'data.json', enc.encode(JSON.stringify([{ text: TEXT }, { text: 'second' }, { content: 'third' }]))),
        oneFile('chat', 'data.json', enc.encode(JSON.stringify({ a: { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: TEXT }] }, b: 'plain string' }))),
      ];
    },
    run: async (_dir, file) => (await readLocalFile(file)).length,
  },
  {
    name: 'dataset-jsonl',
    what: 'local .jsonl calibration files (one record per line)',
    async seeds() {
      const lines = [{ text: TEXT }, { text: 'second' }, { messages: [{ role: 'user', content: 'hi' }] }, 'a bare string'];
      return [oneFile('records', 'data.jsonl', enc.encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'))];
    },
    run: async (_dir, file) => (await readLocalFile(file)).length,
  },
  {
    name: 'dataset-parquet',
    what: 'local .parquet calibration files (hyparquet: footer, schema, the text column)',
    async seeds() {
      const texts = [TEXT, 'second', 'third document', ''];
      const one = parquetWriteBuffer({ columnData: [{ name: 'text', data: texts, type: 'STRING' as const }] });
      const two = parquetWriteBuffer({
        columnData: [
          { name: 'id', data: [1, 2, 3, 4], type: 'INT32' as const },
          { name: 'content', data: texts, type: 'STRING' as const },
        ],
      });
      return [oneFile('text-column', 'data.parquet', new Uint8Array(one)), oneFile('only-string-column', 'data.parquet', new Uint8Array(two))];
    },
    run: async (_dir, file) => (await readLocalFile(file)).length,
  },
  exportedFolderTarget('folder-gptq', ['auto_gptq', 'auto_gptq:v2', 'auto_round']),
  exportedFolderTarget('folder-awq', ['auto_awq', 'auto_round:auto_awq']),
  exportedFolderTarget('folder-llmc', ['llm_compressor', 'auto_round:llm_compressor']),
  exportedFolderTarget('folder-fake', ['fake']),
  exportedFolderTarget('folder-gguf', ['gguf:q4_0']),
];

/** Writes a seed's files into `dir` (created), as valid input. */
export function materialize(seed: Seed, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of seed.fixed) writeFileSync(join(dir, f.rel), f.bytes);
  for (const f of seed.files) writeFileSync(join(dir, f.rel), f.bytes);
}
