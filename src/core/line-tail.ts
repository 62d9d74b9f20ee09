/**
 * The in-memory tail of a worker's output: what an incident quotes and what the API shows.
 * @module
 */

/**
 * The last `capacity` lines of something (a worker's output), oldest first. A ring buffer: push is
 * O(lines pushed) and memory is fixed, whatever the worker prints.
 */
export class LineTail {
  private readonly buf: string[] = []
  private start = 0

  constructor(readonly capacity: number) {}

  /** Adds lines at the new end, dropping the oldest beyond the capacity. */
  push(lines: string[]): void {
    if (this.capacity <= 0) return
    for (const line of lines) {
      if (this.buf.length < this.capacity) {
        this.buf.push(line)
      } else {
        this.buf[this.start] = line
        this.start = (this.start + 1) % this.capacity
      }
    }
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)]
  }

  clear(): void {
    this.buf.length = 0
    this.start = 0
  }
}
