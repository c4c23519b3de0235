// The optional argument of pacs.scoreResponse: a run id, or { runId, step?, group?, index?,
// prompt?, response? } (the rollout inspector's "Edit and re-score"). No vscode here.

export interface ScoreRequest {
  runId?: string;
  /** With group and index: the logged sample's step. Alone: the checkpoint step to score with. */
  step?: number;
  group?: number;
  index?: number;
  prompt?: string;
  response?: string;
}

export function parseScoreRequest(arg: unknown): ScoreRequest {
  if (typeof arg === 'string') return { runId: arg };
  if (typeof arg !== 'object' || arg === null) return {};
  const a = arg as Record<string, unknown>;
  const int = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { runId: str(a.runId), step: int(a.step), group: int(a.group), index: int(a.index), prompt: str(a.prompt), response: str(a.response) };
}

export function sampleOf(request: ScoreRequest): { step: number; group: number; index: number } | null {
  return request.step !== undefined && request.group !== undefined && request.index !== undefined
    ? { step: request.step, group: request.group, index: request.index }
    : null;
}
