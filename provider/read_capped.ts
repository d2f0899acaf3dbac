/**
 * Reading a child process's output with a bound on memory (pricing scripts, `lease shell`).
 * @module
 */

/**
 * Reads `stream` until it ends, `stop` aborts, or `max` bytes were read (then `onOverflow` is called
 * once and the stream is cancelled). Never throws.
 * @returns the bytes read (at most `max`) and whether there was more
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
  onOverflow: () => void,
  stop: AbortSignal,
): Promise<{ bytes: Uint8Array; overflow: boolean }> {
  const reader = stream.getReader();
  const onStop = () => reader.cancel().catch(() => {});
  stop.addEventListener("abort", onStop, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  let overflow = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (overflow) continue;
      const room = max - size;
      if (value.length > room) {
        chunks.push(value.subarray(0, room));
        size = max;
        overflow = true;
        onOverflow();
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } catch { /* cancelled */ }
  stop.removeEventListener("abort", onStop);
  try {
    await reader.cancel();
  } catch { /* closed */ }
  const bytes = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return { bytes, overflow };
}
