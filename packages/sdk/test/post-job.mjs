// A dApp's first job with @dinfer/sdk and nothing else, as a newcomer writes it. Copied into an empty
// project by test/package/sdk-package.test.ts (it lives here, not under test/, where Mocha would load
// it), which gives it a devnet through the environment: DINFER_RPC_URL, DINFER_PRIVATE_KEY,
// DINFER_CONTRACTS (the addresses as the devnet prints them), DINFER_UPLOAD_URL, DINFER_UPLOAD_TOKEN,
// MODEL_ID. It prints one JSON line of what it saw.
import {
  connectDinfer,
  DinferError,
  imageToClsInput,
  JobStatus,
  postedJobId,
  tensorFromArray,
} from "@dinfer/sdk";

const env = process.env;
const deployment = JSON.parse(env.DINFER_CONTRACTS);
const { dinfer, publicClient } = await connectDinfer({
  rpcUrl: env.DINFER_RPC_URL,
  privateKey: env.DINFER_PRIVATE_KEY,
  deployment,
  upload: { serverUrl: env.DINFER_UPLOAD_URL, token: env.DINFER_UPLOAD_TOKEN },
});
const modelId = BigInt(env.MODEL_ID);

/** The cls model's input: one [1, channels, 48, 192] float32 tensor named x (the model takes 3 channels). */
const clsInput = (channels = 3) =>
  tensorFromArray({ name: "x", dtype: "float32", dims: [1, channels, 48, 192], values: Float32Array.from({ length: channels * 48 * 192 }, (_, i) => ((i % 255) / 255 - 0.5) / 0.5) });

const failure = async (run) => {
  try {
    await run();
    return undefined;
  } catch (error) {
    return { name: error.name, code: error.code, message: error.message, dinferError: error instanceof DinferError };
  }
};

// 1. A wrong-shape input (one channel) is refused before anything is sent.
const refused = await failure(() => dinfer.postJob({ modelId, input: { tensors: [clsInput(1)] } }));
// 2. Images need sharp, which this project did not install.
const noSharp = await failure(() => imageToClsInput("line.png"));
// 3. The real post: checked against the model, uploaded (110 KB), posted at the model's price floor.
const posted = await dinfer.postJob({ modelId, input: { tensors: [clsInput()] } });
const receipt = await publicClient.getTransactionReceipt({ hash: posted.txHash });
const record = await dinfer.readJob(posted.jobId);

console.log(
  JSON.stringify({
    jobId: String(posted.jobId),
    receiptJobId: String(postedJobId(receipt.logs, deployment.market)),
    receiptStatus: receipt.status,
    txHash: posted.txHash,
    inputHash: posted.inputHash,
    inputURI: posted.inputURI,
    fee: String(posted.fee),
    account: dinfer.account,
    state: { status: record.job.status, posted: record.job.status === JobStatus.Posted, poster: record.job.poster, fee: String(record.job.fee) },
    refused,
    noSharp,
  }),
);
