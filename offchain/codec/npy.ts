/**
 * NumPy's `.npy` files (format versions 1.0, 2.0 and 3.0) read as tensors, so a dApp can build a
 * job's input with `np.save` (`dinfer tensor encode x=input.npy`):
 *
 * ```
 * "\x93NUMPY" major minor        6 + 2 bytes
 * u16 (1.0) or u32 (2.0, 3.0)    header length, little-endian
 * header                         a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }
 * data                           the elements in C order (row-major)
 * ```
 *
 * Only the dtypes a tensor blob carries are read (float16/32/64, int8, uint8, int32, int64, bool), in
 * either byte order; Fortran-ordered arrays and object arrays are refused with the fix.
 */
import { CodecError } from "../errors.js";
import { DTYPES, elementCount, validateTensor, type DType, type Tensor } from "./tensor.js";

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** NumPy's type character and size for each blob dtype. */
const NPY_KINDS: Record<string, DType> = {
  f2: "float16",
  f4: "float32",
  f8: "float64",
  i1: "int8",
  u1: "uint8",
  i4: "int32",
  i8: "int64",
  b1: "bool",
};

export type ReadNpyParameters = {
  bytes: Uint8Array;
  /** The tensor's name in the blob. */
  name: string;
  /** Names the file in errors. */
  source?: string;
};

/** The array in an `.npy` file as a tensor (its data copied, little-endian). */
export function readNpy({ bytes, name, source = "npy" }: ReadNpyParameters): Tensor {
  const fail = (problem: string) => new CodecError({ field: source, problem });
  if (bytes.length < 10 || NPY_MAGIC.some((byte, i) => bytes[i] !== byte)) throw fail('not an .npy file (no "\\x93NUMPY" magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw fail(`.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0, 3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) throw fail("truncated header");
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw fail(`the header says ${headerLength} bytes, the file ends first`);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fail(`unreadable header ${JSON.stringify(header.trim())}`);
  if (fortran === "True") throw fail("the array is in Fortran order: save np.ascontiguousarray(a) instead");
  const order = descr[0];
  const dtype = NPY_KINDS[descr.slice(1)];
  if (dtype === undefined || !["<", ">", "|", "="].includes(order!)) {
    throw fail(`dtype ${descr} cannot go in a tensor blob (float16/32/64, int8, uint8, int32, int64, bool can: convert with a.astype(np.float32))`);
  }
  const dims = shapeText
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const dim = Number(part.replace(/L$/, ""));
      if (!Number.isSafeInteger(dim) || dim < 0) throw fail(`shape (${shapeText}) is not a tuple of sizes`);
      return dim;
    });

  const size = DTYPES[dtype].size;
  const expected = elementCount(dims) * BigInt(size);
  const available = BigInt(bytes.length - dataStart);
  if (available !== expected) throw fail(`shape (${dims.join(", ")}) of ${descr} needs ${expected} data bytes, the file has ${available}`);
  const data = bytes.slice(dataStart);
  if (order === ">" && size > 1) {
    for (let i = 0; i < data.length; i += size) data.subarray(i, i + size).reverse();
  }
  const tensor: Tensor = { name, dtype, dims, data };
  validateTensor(tensor, source);
  return tensor;
}
