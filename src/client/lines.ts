/** The lines of a byte stream as they arrive (NDJSON), without holding more than one line. The last line need not end with a newline. */
export async function* linesOf(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let pending = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = pending.split('\n');
      pending = done ? '' : lines.pop()!;
      for (const line of lines) if (line !== '') yield line;
      if (done) return;
    }
  } finally {
    // Stopped early (a break in for await): let the connection go.
    await reader.cancel().catch(() => {});
  }
}
