/**
 * The only place that listens to process signals. The daemon stops gracefully on the first SIGINT
 * or SIGTERM and forcefully on the second.
 * @module
 */
export interface SignalSource {
  /** Calls `handler` with the signal and how many shutdown signals have arrived so far (1, 2, …). */
  onShutdown(handler: (signal: NodeJS.Signals, count: number) => void): () => void
}

export const nodeSignals: SignalSource = {
  onShutdown(handler) {
    let count = 0
    const listener = (signal: NodeJS.Signals): void => handler(signal, ++count)
    process.on('SIGINT', listener)
    process.on('SIGTERM', listener)
    return () => {
      process.off('SIGINT', listener)
      process.off('SIGTERM', listener)
    }
  },
}
