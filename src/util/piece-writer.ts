// Large answers written out in pieces, the event loop let go between them: JSON.stringify(value,
// null, 2) and the status page's parts. The /status of 10,000 services is 65 MB: made as one
// string, then encoded, it held the daemon's event loop for a second and its memory for two copies
// (docs/benchmarks.md "The status server at scale"). The document's own fields and the elements of
// its long arrays are written one at a time; each of them goes through JSON.stringify whole.

/** Arrays longer than this are written an element at a time. */
const LONG = 64;
/** Pieces are gathered up to this many characters before the sink gets them. */
const PIECE = 64 * 1024;
/** Written characters after which the writer waits for the next turn of the event loop. */
const SLICE = 512 * 1024;

export interface PieceSink {
  /** Takes a piece; resolves when more may be written. */
  write(piece: string): Promise<void>;
}

/** What JSON.stringify leaves out of an object and writes as null in an array. */
const noJson = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * Gathers text into pieces of about 64 KB for `sink`, and lets the event loop turn every 512 KB.
 * What writes a large answer in parts (the JSON below, the status page) writes through one.
 */
export class PieceWriter {
  readonly #sink: PieceSink;
  #gathered = '';
  #since = 0;

  constructor(sink: PieceSink) {
    this.#sink = sink;
  }

  async put(text: string): Promise<void> {
    this.#gathered += text;
    if (this.#gathered.length < PIECE) return;
    const piece = this.#gathered;
    this.#gathered = '';
    await this.#sink.write(piece);
    this.#since += piece.length;
    if (this.#since >= SLICE) {
      this.#since = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Writes what is gathered. */
  async flush(): Promise<void> {
    if (!this.#gathered) return;
    const piece = this.#gathered;
    this.#gathered = '';
    await this.#sink.write(piece);
  }
}

/** Writes the parts to `sink` through a PieceWriter. */
export async function writeParts(sink: PieceSink, parts: Iterable<string>): Promise<void> {
  const out = new PieceWriter(sink);
  for (const part of parts) await out.put(part);
  await out.flush();
}

/** Writes `JSON.stringify(value, null, 2)` to `sink` in pieces. `value` is JSON data (no cycles). */
export async function writeJson(sink: PieceSink, value: unknown): Promise<void> {
  const out = new PieceWriter(sink);
  const put = (text: string) => out.put(text);
  const whole = (v: unknown, pad: string) => put((JSON.stringify(v, null, 2) ?? 'null').replace(/\n/g, `\n${pad}`));
  /** The document (depth 0) is walked field by field, a long array element by element; the rest whole. */
  const walk = async (v: unknown, pad: string, depth: number): Promise<void> => {
    if (v === null || typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function') return whole(v, pad);
    const inner = `${pad}  `;
    if (Array.isArray(v)) {
      if (v.length <= LONG) return whole(v, pad);
      await put('[');
      for (let i = 0; i < v.length; i++) {
        await put(`${i ? ',' : ''}\n${inner}`);
        const el: unknown = v[i];
        await walk(noJson(el) ? null : el, inner, depth + 1);
      }
      return put(`\n${pad}]`);
    }
    if (depth > 0) return whole(v, pad);
    const fields = Object.entries(v).filter(([, el]) => !noJson(el));
    if (fields.length === 0) return put('{}');
    await put('{');
    for (let i = 0; i < fields.length; i++) {
      const [key, el] = fields[i] as [string, unknown];
      await put(`${i ? ',' : ''}\n${inner}${JSON.stringify(key)}: `);
      await walk(el, inner, depth + 1);
    }
    return put(`\n${pad}}`);
  };
  await walk(value, '', 0);
  await out.flush();
}
