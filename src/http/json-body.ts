import type { FastifyInstance } from 'fastify';
import { JSON_MEDIA_TYPE } from '../core/encoding.js';
import { KvError } from '../core/errors.js';

/**
 * Makes the routes of `app` take JSON bodies only (anything else is 415) up to
 * `bodyLimitBytes`, parsed with plain JSON.parse. Handlers read fields one by
 * one and never merge parsed objects into others, so `__proto__` keys in a
 * body are inert data.
 */
export function acceptJsonBodies(app: FastifyInstance, bodyLimitBytes: number): void {
  app.removeAllContentTypeParsers();
  // The same test as for stored values, so what kvs calls JSON is one thing.
  app.addContentTypeParser(JSON_MEDIA_TYPE, { parseAs: 'buffer', bodyLimit: bodyLimitBytes }, (_request, body, done) => {
    try {
      done(null, parseJson(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new KvError('invalid_json', 'the body is empty; send a JSON document');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new KvError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Narrows a parsed body to a plain JSON object, or explains what was expected. */
export function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KvError('invalid_request', `${where} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Refuses members other than `allowed`, so a typo is an error rather than silently ignored. */
export function expectOnly(object: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const name of Object.keys(object)) {
    if (!allowed.includes(name)) {
      throw new KvError('invalid_request', `${where} has an unknown member ${JSON.stringify(name)}; allowed: ${allowed.join(', ')}`);
    }
  }
}
