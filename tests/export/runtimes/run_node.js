// Runs an ONNX graph with onnxruntime-node: node run_node.js MODEL INPUT.json -> JSON on stdout.
// INPUT.json holds {"shape": [n, ...], "data": [...]} (float32); prints {"dims", "data"}.
const fs = require("fs");
const ort = require("onnxruntime-node");

(async () => {
  const [model, input] = process.argv.slice(2);
  const x = JSON.parse(fs.readFileSync(input, "utf8"));
  const session = await ort.InferenceSession.create(model);
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(x.data), x.shape) };
  const y = (await session.run(feeds))[session.outputNames[0]];
  console.log(JSON.stringify({ dims: y.dims, data: Array.from(y.data) }));
})().catch((e) => { console.error(e); process.exit(1); });
