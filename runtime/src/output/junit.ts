import { XMLParser } from 'fast-xml-parser';

/** A test case as API v2 `GET /project/{slug}/{job}/tests` reports it. */
export interface TestCase {
  readonly message: string | null;
  readonly source: string;
  readonly run_time: number;
  readonly file: string;
  readonly result: 'success' | 'failure' | 'skipped' | 'error';
  readonly name: string;
  readonly classname: string;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  textNodeName: '#text',
  isArray: (n) => n === 'testsuite' || n === 'testcase',
});
const list = (v: unknown): Record<string, unknown>[] =>
  (Array.isArray(v) ? v : v ? [v] : []) as Record<string, unknown>[];
const text = (v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  return String(o.message ?? o['#text'] ?? '') || '';
};

/** Parses a JUnit XML report (testsuites/testsuite/testcase, nested suites included). */
export function parseJUnit(xml: string, source: string): TestCase[] {
  const doc = parser.parse(xml) as Record<string, unknown>;
  const out: TestCase[] = [];
  const suite = (s: Record<string, unknown>) => {
    for (const c of list(s.testcase)) {
      const failure = c.failure ?? c.error;
      const result =
        c.skipped !== undefined
          ? 'skipped'
          : c.failure !== undefined
            ? 'failure'
            : c.error !== undefined
              ? 'error'
              : 'success';
      out.push({
        message: failure === undefined ? null : text(Array.isArray(failure) ? failure[0] : failure),
        source,
        run_time: Number(c.time ?? 0) || 0,
        file: String(c.file ?? s.file ?? ''),
        result,
        name: String(c.name ?? ''),
        classname: String(c.classname ?? s.name ?? ''),
      });
    }
    for (const inner of list(s.testsuite)) suite(inner);
  };
  const root = (doc.testsuites ?? doc) as Record<string, unknown>;
  for (const s of list(root.testsuite)) suite(s);
  return out;
}
