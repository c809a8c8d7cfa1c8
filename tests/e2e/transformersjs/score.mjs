// Runs in the page: transformers.js scoring a classification task the way the prize pipeline
// does (the sum of each class's token log-probs after the prompt), so its speed can be set
// beside the app's. Served with transformers.js's dist/ at /tjs/, onnxruntime-web's dist/ at
// /ort/ and the ONNX export of scripts/export_onnx.py at /models/<name>/.
import { env, AutoTokenizer, AutoModelForCausalLM, Tensor } from "/tjs/transformers.js";

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "/models/";
env.useBrowserCache = false;
env.backends.onnx.wasm.wasmPaths = "/ort/";
// As many threads as the machine has (onnxruntime-web's default is half the cores); they run
// only where the page is cross-origin isolated.
env.backends.onnx.wasm.numThreads = navigator.hardwareConcurrency;

/**
 * Scores `examples` ({prompt, classes}) with model `name` on `device` ("webgpu" or "wasm"),
 * float32. One forward pass per example: its classes as a right-padded batch. Returns the
 * class log-probs per example, the load and scoring seconds and what ran.
 */
export async function score({ name, device, examples }) {
  const loadStart = performance.now();
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const model = await AutoModelForCausalLM.from_pretrained(name, { device, dtype: "fp32" });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const encode = (text) => tokenizer.encode(text, { add_special_tokens: false });

  const scoreStart = performance.now();
  const classLogprobs = [];
  for (const { prompt, classes } of examples) {
    const seqs = classes.map((c) => encode(prompt + c));
    const scored = classes.map((c) => encode(c).length);
    const width = Math.max(...seqs.map((s) => s.length));
    const ids = new BigInt64Array(seqs.length * width);
    const mask = new BigInt64Array(seqs.length * width);
    seqs.forEach((s, b) => s.forEach((t, i) => { ids[b * width + i] = BigInt(t); mask[b * width + i] = 1n; }));
    const { logits } = await model({
      input_ids: new Tensor("int64", ids, [seqs.length, width]),
      attention_mask: new Tensor("int64", mask, [seqs.length, width]),
    });
    const vocab = logits.dims[2];
    const data = logits.data;
    classLogprobs.push(seqs.map((s, b) => {
      let sum = 0;
      for (let t = s.length - scored[b]; t < s.length; t++) {
        const row = data.subarray((b * width + t - 1) * vocab, (b * width + t) * vocab);
        let max = -Infinity;
        for (const x of row) max = Math.max(max, x);
        let exp = 0;
        for (const x of row) exp += Math.exp(x - max);
        sum += row[s[t]] - max - Math.log(exp);
      }
      return sum;
    }));
    logits.dispose?.();
  }
  const scoreSeconds = (performance.now() - scoreStart) / 1000;
  await model.dispose();
  return { classLogprobs, loadSeconds, scoreSeconds, crossOriginIsolated: self.crossOriginIsolated, threads: env.backends.onnx.wasm.numThreads };
}
