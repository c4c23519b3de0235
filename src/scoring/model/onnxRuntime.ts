// onnxruntime-node is loaded on first use only: activating the extension, or importing any other
// module, never loads its native binding.
import type * as OrtModule from 'onnxruntime-node';

export type Ort = typeof OrtModule;

let loading: Promise<Ort> | undefined;

export function loadOnnxRuntime(): Promise<Ort> {
  loading ??= import('onnxruntime-node').then((mod) => ('InferenceSession' in mod ? mod : (mod as unknown as { default: Ort }).default));
  return loading;
}

/** True once something asked for onnxruntime-node. */
export function onnxRuntimeRequested(): boolean {
  return loading !== undefined;
}
