import { fdatasync, openSync, write, writeSync, type NoParamCallback } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';

/**
 * The durable ceiling: bare node:http that makes every write's body durable
 * before answering it, with nothing else — no routing framework, no parsing,
 * no index, no store. Bodies are group-committed: while one fdatasync runs,
 * the bodies that arrive wait, and then go to the file together, with one
 * write and one fdatasync. The file is preallocated and overwritten in place
 * (a ring), so a sync never has to update the file's size: the cheapest
 * durable write a Node HTTP server can make here, and the physical limit kvs's
 * durable PUT is measured against.
 *
 * Writes (any method with a body: PUT, POST) are answered with the canned
 * response for their path (as ceiling-server.ts); GETs at once.
 *
 * Usage: node durable-ceiling-server.js PORT FILE RESPONSES_JSON
 */
interface CannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const RING_BYTES = 64 * 1024 * 1024;

const [portText, file, responsesJson] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: durable-ceiling-server.js PORT FILE RESPONSES_JSON');
const responses = Object.entries(JSON.parse(responsesJson ?? '{}') as Record<string, CannedResponse>).map(([route, response]) => {
  const [method, prefix] = route.split(' ');
  const body = Buffer.from(response.body);
  return { method, prefix: prefix ?? '/', status: response.status, headers: { ...response.headers, 'content-length': String(body.length) }, body };
});

const fd = openSync(file, 'w');
const zeros = Buffer.alloc(1024 * 1024);
for (let offset = 0; offset < RING_BYTES; offset += zeros.length) writeSync(fd, zeros, 0, zeros.length, offset);
let position = 0;

interface Waiting {
  body: Buffer;
  answer: () => void;
}
let waiting: Waiting[] = [];
let syncing = false;

/** Everything that arrived since the last commit: one write, one fdatasync, then every answer. */
function commit(): void {
  const batch = waiting;
  waiting = [];
  syncing = true;
  const bytes = batch.length === 1 ? batch[0]!.body : Buffer.concat(batch.map((item) => item.body));
  if (position + bytes.length > RING_BYTES) position = 0;
  const at = position;
  position += bytes.length;
  const synced: NoParamCallback = (error) => {
    if (error) throw error;
    for (const item of batch) item.answer();
    syncing = false;
    if (waiting.length > 0) commit();
  };
  write(fd, bytes, 0, bytes.length, at, (error) => {
    if (error) throw error;
    fdatasync(fd, synced);
  });
}

function answerWith(response: ServerResponse, method: string | undefined, url: string): () => void {
  const canned = responses.find((candidate) => candidate.method === method && url.startsWith(candidate.prefix));
  return () => {
    if (canned === undefined) response.writeHead(404).end();
    else response.writeHead(canned.status, canned.headers).end(canned.body);
  };
}

createServer((request, response) => {
  const answer = answerWith(response, request.method, request.url ?? '/');
  if (request.method === 'GET' || request.method === 'HEAD') {
    answer();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    waiting.push({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), answer });
    if (!syncing) commit();
  });
}).listen(Number(portText), '127.0.0.1');
