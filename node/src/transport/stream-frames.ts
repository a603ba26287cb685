/**
 * Framing of the append stream (see peer-stream.ts): each frame is a 4-byte
 * big-endian length and that many bytes of UTF-8 JSON. A frame longer than
 * the limit is a protocol error, found from its header before its bytes are
 * buffered, so a hostile peer cannot make the reader hold more than the limit.
 */

/** Bytes of a frame header. */
const HEADER = 4;

/** One frame: the length header and the text, as one buffer (one write). */
export function encodeFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const buf = Buffer.allocUnsafe(HEADER + len);
  buf.writeUInt32BE(len, 0);
  buf.write(text, HEADER, "utf8");
  return buf;
}

/** Thrown by FrameReader.push for a frame over the limit. */
export class FrameTooLarge extends Error {}

/** Reassembles frames from socket chunks; a large frame's chunks are joined once, when it is whole. */
export class FrameReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes needed before anything can be parsed (a header, or the whole current frame). */
  #need = HEADER;
  readonly #maxFrameBytes: number;

  /** A reader refusing frames over `maxFrameBytes`. */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /** Adds a chunk; returns the texts of the frames it completed, in order (throws FrameTooLarge). */
  push(chunk: Buffer): string[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < this.#need) {
      if (this.#pendingBytes >= HEADER && this.#need === HEADER) this.#need = this.#frameEnd(this.#join(), 0);
      return [];
    }
    const buf = this.#join();
    const out: string[] = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < HEADER) break;
      const end = this.#frameEnd(buf, at);
      if (buf.length < end) break;
      out.push(buf.toString("utf8", at + HEADER, end));
      at = end;
    }
    const rest = at === 0 ? buf : buf.subarray(at);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    this.#need = rest.length >= HEADER ? this.#frameEnd(rest, 0) : HEADER;
    return out;
  }

  #join(): Buffer {
    if (this.#pending.length > 1) this.#pending = [Buffer.concat(this.#pending, this.#pendingBytes)];
    return this.#pending[0] as Buffer;
  }

  /** Where the frame starting at `at` ends; throws for one over the limit. */
  #frameEnd(buf: Buffer, at: number): number {
    const len = buf.readUInt32BE(at);
    if (len > this.#maxFrameBytes) {
      throw new FrameTooLarge(`a frame of ${len} bytes is over the limit of ${this.#maxFrameBytes}`);
    }
    return at + HEADER + len;
  }
}
