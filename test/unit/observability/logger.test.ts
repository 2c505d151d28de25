import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, REDACT_CENSOR } from '../../../src/observability/logger.ts';

function collect(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  const log = createLogger(level, { write: (s) => lines.push(s) });
  const records = (): Array<Record<string, unknown>> =>
    lines
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, records };
}

describe('logger', () => {
  it('writes one JSON object per line with level label, message and fields', () => {
    const { log, records } = collect('info');
    log.info({ callId: 'c1' }, 'hello');
    log.warn({}, 'careful');
    const r = records();
    assert.equal(r.length, 2);
    assert.equal(r[0]?.level, 'info');
    assert.equal(r[0]?.msg, 'hello');
    assert.equal(r[0]?.callId, 'c1');
    assert.equal(typeof r[0]?.time, 'string');
    assert.equal(r[1]?.level, 'warn');
  });

  it('honours the level', () => {
    const { log, records } = collect('warn');
    log.debug({}, 'd');
    log.info({}, 'i');
    log.error({}, 'e');
    assert.deepEqual(
      records().map((x) => x.msg),
      ['e'],
    );
    const silent = collect('silent');
    silent.log.error({}, 'x');
    assert.equal(silent.records().length, 0);
  });

  it('redacts secret-bearing keys at the top level and nested', () => {
    const { log, records } = collect('debug');
    log.info(
      {
        password: 'pw1',
        ha1: 'abc',
        user: 'alice',
        headers: { authorization: 'Digest response="x"' },
        tls: { key: 'PEM', cfg: { secret: 's', token: 't' } },
      },
      'm',
    );
    log.child({ token: 'child-token', mod: 'admin' }).info({ secret: 'q' }, 'c');
    const text = JSON.stringify(records());
    for (const s of ['pw1', 'abc', 'Digest', 'PEM', '"s"', '"t"', 'child-token', '"q"']) {
      assert.ok(!text.includes(s), `leaked ${s}: ${text}`);
    }
    const [a, b] = records();
    assert.equal(a?.password, REDACT_CENSOR);
    assert.equal(a?.user, 'alice');
    assert.equal((a?.headers as Record<string, unknown> | undefined)?.authorization, REDACT_CENSOR);
    assert.equal(b?.mod, 'admin');
    assert.equal(b?.msg, 'c');
  });
});
