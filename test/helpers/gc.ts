// V8's collector in tests, without starting node with --expose-gc.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's full collection, callable. */
export function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Two full collections once the current job is over. A WeakRef made or read in a job keeps its
 * target alive to the end of that job, so a collection in the same job frees nothing it points at.
 */
export async function collectAfterJob(): Promise<void> {
  const gc = collector();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
}
