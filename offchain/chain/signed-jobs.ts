/**
 * Signed job requests (JobMarket.postSignedAndCommit): a dApp signs a job request off-chain (EIP-712) and
 * hands it to a provider, which runs it and submits it with its result's commitment in one transaction. The
 * fee comes from the dApp's deposit in the market. The job's id is known before it is posted: the request's
 * digest with the top bit set, so the dApp can wait for it at once.
 */
import {
  getAddress,
  hashTypedData,
  recoverTypedDataAddress,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";

import { NonRetryableError } from "../errors.js";

/** A job request as the market takes it (IJobMarket.JobRequest). */
export type JobRequestFields = {
  modelId: bigint;
  fee: bigint;
  claimBy: bigint;
  inputHash: Hex;
  inputURI: string;
  inlineInput: Hex;
  callbackGasLimit: number;
  inlineOutput: boolean;
};

/** A signed request: what a dApp hands a provider (JSON through `encodeSignedJob`). */
export type SignedJob = {
  request: JobRequestFields;
  poster: Address;
  /** The only provider that may post it; the zero address: any. */
  provider: Address;
  /** The least collateral the job may carry: the model's when the poster signed (a provider cannot lower it). */
  minCollateral: bigint;
  salt: bigint;
  signature: Hex;
};

/** The market a request is signed for (the EIP-712 domain). */
export type SignedJobDomain = { chainId: number; market: Address };

/** Set in every signed job's id (contracts/JobMarket.sol SIGNED_JOB_BIT). */
export const SIGNED_JOB_BIT = 1n << 255n;
/** What a cancelled signed request's slot holds (`JobMarket.jobHash`): no job hashes to it. */
export const SIGNED_JOB_CANCELLED = 1n;

const TYPES = {
  SignedJob: [
    { name: "modelId", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "claimBy", type: "uint64" },
    { name: "inputHash", type: "bytes32" },
    { name: "inputURI", type: "string" },
    { name: "inlineInput", type: "bytes" },
    { name: "callbackGasLimit", type: "uint32" },
    { name: "inlineOutput", type: "bool" },
    { name: "poster", type: "address" },
    { name: "provider", type: "address" },
    { name: "minCollateral", type: "uint256" },
    { name: "salt", type: "uint256" },
  ],
} as const;

/** The EIP-712 typed data of a request (viem's signTypedData / hashTypedData take it as it is). */
export type SignedJobTypedData = {
  domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  types: typeof TYPES;
  primaryType: "SignedJob";
  message: JobRequestFields & { poster: Address; provider: Address; minCollateral: bigint; salt: bigint };
};

function typedData(domain: SignedJobDomain, job: Omit<SignedJob, "signature">): SignedJobTypedData {
  return {
    domain: { name: "dinfer JobMarket", version: "1", chainId: domain.chainId, verifyingContract: domain.market },
    types: TYPES,
    primaryType: "SignedJob",
    message: { ...job.request, poster: job.poster, provider: job.provider, minCollateral: job.minCollateral, salt: job.salt },
  };
}

/** The digest the poster signs (JobMarket.signedJobDigest). */
export function signedJobDigest(domain: SignedJobDomain, job: Omit<SignedJob, "signature">): Hex {
  return hashTypedData(typedData(domain, job));
}

/** The id the job will have once posted. */
export function signedJobId(domain: SignedJobDomain, job: Omit<SignedJob, "signature">): bigint {
  return BigInt(signedJobDigest(domain, job)) | SIGNED_JOB_BIT;
}

/** Whether `jobId` is a signed job's (not a sequential one). */
export function isSignedJobId(jobId: bigint): boolean {
  return (jobId & SIGNED_JOB_BIT) !== 0n;
}

/** A random salt: two otherwise equal requests are two jobs. */
export function randomSalt(): bigint {
  return BigInt(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}`);
}

/** What signs a request: a viem LocalAccount, or a wallet client's account wrapped the same way. */
export type TypedDataSigner = {
  address: Address;
  signTypedData: (typedData: SignedJobTypedData) => Promise<Hex>;
};

/**
 * Signs `request` for `provider` (zero: any provider) as the poster `signer`, with the least collateral the
 * job may carry (give the model's current one: `ModelRegistry.terms`).
 */
export async function signJob(
  signer: TypedDataSigner,
  domain: SignedJobDomain,
  request: JobRequestFields,
  { provider = zeroAddress, minCollateral, salt = randomSalt() }: { provider?: Address; minCollateral: bigint; salt?: bigint },
): Promise<SignedJob> {
  const job = { request, poster: signer.address, provider, minCollateral, salt };
  const signature = await signer.signTypedData(typedData(domain, job));
  return { ...job, signature };
}

/** The address that signed `job` (the poster when the signature is good). */
export function signerOf(domain: SignedJobDomain, job: SignedJob): Promise<Address> {
  return recoverTypedDataAddress({ ...typedData(domain, job), signature: job.signature });
}

/** A signed request as JSON (bigints as decimal strings). */
export function encodeSignedJob(job: SignedJob): string {
  return JSON.stringify(job, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}

/** Reads a signed request from JSON, with a message naming the field that is wrong. */
export function decodeSignedJob(json: unknown): SignedJob {
  const o = (typeof json === "string" ? JSON.parse(json) : json) as Record<string, any> | null;
  const need = (cond: boolean, field: string) => {
    if (!cond) throw new NonRetryableError(`signed job request: ${field} is missing or malformed`, { code: "BAD_SIGNED_JOB" });
  };
  const hex = (v: unknown) => typeof v === "string" && /^0x[0-9a-fA-F]*$/.test(v);
  const int = (v: unknown) => (typeof v === "string" || typeof v === "number") && /^\d+$/.test(String(v));
  need(o !== null && typeof o === "object", "the request object");
  const r = o!.request ?? {};
  need(int(r.modelId), "request.modelId");
  need(int(r.fee), "request.fee");
  need(int(r.claimBy), "request.claimBy");
  need(hex(r.inputHash) && r.inputHash.length === 66, "request.inputHash");
  need(typeof r.inputURI === "string", "request.inputURI");
  need(hex(r.inlineInput), "request.inlineInput");
  need(int(r.callbackGasLimit), "request.callbackGasLimit");
  need(typeof r.inlineOutput === "boolean", "request.inlineOutput");
  need(hex(o!.poster) && o!.poster.length === 42, "poster");
  need(hex(o!.provider) && o!.provider.length === 42, "provider");
  need(int(o!.minCollateral), "minCollateral");
  need(int(o!.salt), "salt");
  need(hex(o!.signature), "signature");
  return {
    request: {
      modelId: BigInt(r.modelId),
      fee: BigInt(r.fee),
      claimBy: BigInt(r.claimBy),
      inputHash: r.inputHash,
      inputURI: r.inputURI,
      inlineInput: r.inlineInput,
      callbackGasLimit: Number(r.callbackGasLimit),
      inlineOutput: r.inlineOutput,
    },
    poster: getAddress(o!.poster),
    provider: getAddress(o!.provider),
    minCollateral: BigInt(o!.minCollateral),
    salt: BigInt(o!.salt),
    signature: o!.signature,
  };
}

/** The market's `SignedJob` argument (postSignedAndCommit, cancelSignedJob, signedJobDigest). */
export function signedJobArg(job: Omit<SignedJob, "signature">) {
  return { request: job.request, poster: job.poster, provider: job.provider, minCollateral: job.minCollateral, salt: job.salt };
}
