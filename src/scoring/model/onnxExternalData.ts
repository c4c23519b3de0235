// The external-data files an ONNX model names. onnxruntime reads a tensor's weights from the file
// its `location` names, relative to the model's folder, following links: a crafted export could
// name `../../secret` and have `pacs-lab score` read it. This walks the model's protobuf (only the
// messages that can hold tensors) without recursion and lists every `location`, so the scorer can
// check each is a regular file inside the export folder before onnxruntime opens the model.

import { basename, dirname, join } from 'node:path';
import { openRunFile, pathInside, RunFileError } from '../../run/model/runFiles';

/** Message kinds that can hold a TensorProto, and which of their fields lead where. */
type Kind = 'model' | 'graph' | 'node' | 'attribute' | 'tensor' | 'sparse' | 'function' | 'training' | 'entry';

const CHILDREN: Record<Kind, Record<number, Kind>> = {
  // ModelProto: graph 7, training_info 20, functions 25
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  // GraphProto: node 1, initializer 5, sparse_initializer 15
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  // NodeProto: attribute 5
  node: { 5: 'attribute' },
  // AttributeProto: t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  // TensorProto: external_data 13 (StringStringEntryProto)
  tensor: { 13: 'entry' },
  // SparseTensorProto: values 1, indices 2
  sparse: { 1: 'tensor', 2: 'tensor' },
  // FunctionProto: node 7
  function: { 7: 'node' },
  // TrainingInfoProto: initialization 1, algorithm 2
  training: { 1: 'graph', 2: 'graph' },
  entry: {},
};

/** Nesting of graphs inside attributes inside graphs deeper than this is refused (no real model comes close). */
const MAX_NESTING = 64;

export class OnnxFormatError extends Error {}

function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new OnnxFormatError('truncated varint');
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) return [value, pos];
    scale *= 128;
  }
  throw new OnnxFormatError('varint longer than 10 bytes');
}

/**
 * Every external-data `location` in the model (duplicates removed), in the order found. Throws
 * OnnxFormatError when the bytes are not a well-formed protobuf where a tensor could be.
 */
export function externalDataLocations(model: Uint8Array): string[] {
  const found = new Set<string>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const stack: Array<{ kind: Kind; pos: number; end: number; depth: number; key?: string; value?: string }> = [
    { kind: 'model', pos: 0, end: model.length, depth: 0 },
  ];
  while (stack.length) {
    const frame = stack[stack.length - 1];
    if (frame.pos >= frame.end) {
      stack.pop();
      if (frame.kind === 'entry' && frame.key === 'location' && frame.value !== undefined) found.add(frame.value);
      continue;
    }
    const [tag, afterTag] = readVarint(model, frame.pos, frame.end);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let next: number;
    if (wire === 0) next = readVarint(model, afterTag, frame.end)[1];
    else if (wire === 1) next = afterTag + 8;
    else if (wire === 5) next = afterTag + 4;
    else if (wire === 2) {
      const [length, start] = readVarint(model, afterTag, frame.end);
      next = start + length;
      if (next > frame.end) throw new OnnxFormatError('a field runs past its message');
      const child = CHILDREN[frame.kind][field];
      if (frame.kind === 'entry' && (field === 1 || field === 2)) {
        const text = decoder.decode(model.subarray(start, next));
        if (field === 1) frame.key = text;
        else frame.value = text;
      } else if (child) {
        if (frame.depth + 1 > MAX_NESTING) throw new OnnxFormatError(`messages nested deeper than ${MAX_NESTING}`);
        frame.pos = next;
        stack.push({ kind: child, pos: start, end: next, depth: frame.depth + 1 });
        continue;
      }
    } else throw new OnnxFormatError(`wire type ${wire} is not one ONNX uses`);
    if (next > frame.end) throw new OnnxFormatError('a field runs past its message');
    frame.pos = next;
  }
  return [...found];
}

/**
 * Checks that every external-data file the model at `modelPath` names is a regular file with one
 * name inside the model's folder, reached through no link (RunFileError naming the model and the
 * location otherwise), so onnxruntime reads nothing from outside the export.
 */
export async function assertExternalDataInside(modelPath: string): Promise<void> {
  const folder = dirname(modelPath);
  let locations: string[];
  try {
    const handle = await openRunFile(modelPath);
    try {
      locations = externalDataLocations(await handle.readFile());
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (!(err instanceof OnnxFormatError)) throw err;
    throw new RunFileError(`${modelPath} is not a readable ONNX model (${err.message}); export it again.`, modelPath);
  }
  for (const location of locations) {
    const label = `${modelPath}: external data location`;
    const path = pathInside(folder, location, label);
    if (dirname(path) !== folder) {
      throw new RunFileError(`${label} ${JSON.stringify(location)} is in a subfolder; an export keeps its weights beside the model (${basename(modelPath)}.data).`, modelPath);
    }
    // openRunFile refuses links, special files and (one name) hard links to a file elsewhere.
    const handle = await openRunFile(join(folder, basename(path)), true);
    await handle.close();
  }
}
