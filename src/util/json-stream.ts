// JSON.stringify(value, null, 2) written out in pieces, the event loop let go between them. The
// /status of 10,000 services is 65 MB: made as one string, then encoded, it held the daemon's event
// loop for a second and its memory for two copies (docs/benchmarks.md "The status server at scale").
// The document's own fields and the elements of its long arrays are written one at a time; each of
// them goes through JSON.stringify whole.

/** Arrays longer than this are written an element at a time. */
const LONG = 64;
/** Pieces are gathered up to this many characters before the sink gets them. */
const PIECE = 64 * 1024;
/** Written characters after which the writer waits for the next turn of the event loop. */
const SLICE = 512 * 1024;

export interface JsonSink {
  /** Takes a piece; resolves when more may be written. */
  write(piece: string): Promise<void>;
}

/** What JSON.stringify leaves out of an object and writes as null in an array. */
const noJson = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** Writes `JSON.stringify(value, null, 2)` to `sink` in pieces. `value` is JSON data (no cycles). */
export async function writeJson(sink: JsonSink, value: unknown): Promise<void> {
  let gathered = '';
  let since = 0;
  const put = async (text: string) => {
    gathered += text;
    if (gathered.length < PIECE) return;
    const piece = gathered;
    gathered = '';
    await sink.write(piece);
    since += piece.length;
    if (since >= SLICE) {
      since = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
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
  if (gathered) await sink.write(gathered);
}
