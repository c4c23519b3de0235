// The webview side of the host channel: acquireVsCodeApi once, typed by the contract.

interface VsCodeApi<State> {
  postMessage(message: unknown): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): VsCodeApi<State>;

export interface HostChannel<Out, State> {
  post(message: Out): void;
  getState(): State | undefined;
  setState(state: State): void;
}

export function connect<Out, State>(): HostChannel<Out, State> {
  const api = acquireVsCodeApi<State>();
  return {
    post: (message) => api.postMessage(message),
    getState: () => api.getState(),
    setState: (state) => api.setState(state),
  };
}

/** Calls `handle` for each host message that passes `guard`; others are logged and dropped. */
export function onHostMessage<In>(guard: (value: unknown) => value is In, handle: (message: In) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (guard(event.data)) {
      handle(event.data);
    } else {
      console.warn('PACS Lab: ignoring an unknown host message', event.data);
    }
  });
}
