import { createServer } from 'node:http';

/**
 * The ceiling: bare node:http answering each benchmarked request with a
 * response of the same shape kvs sends (status, headers, body size), from
 * memory, with no routing framework and no storage. What kvs loses against it
 * is the cost of Fastify, of reading LMDB, and (for PUT) of durability.
 *
 * Usage: node ceiling-server.js PORT RESPONSES_JSON
 * RESPONSES_JSON maps "METHOD /path-prefix" to {status, headers, body}.
 */
interface CannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const [portText, responsesJson] = process.argv.slice(2);
const responses = Object.entries(JSON.parse(responsesJson ?? '{}') as Record<string, CannedResponse>).map(([route, response]) => {
  const [method, prefix] = route.split(' ');
  const body = Buffer.from(response.body);
  return { method, prefix: prefix ?? '/', status: response.status, headers: { ...response.headers, 'content-length': String(body.length) }, body };
});

createServer((request, response) => {
  const canned = responses.find((candidate) => candidate.method === request.method && request.url!.startsWith(candidate.prefix));
  const answer = () => {
    if (canned === undefined) response.writeHead(404).end();
    else response.writeHead(canned.status, canned.headers).end(canned.body);
  };
  if (request.method === 'GET' || request.method === 'HEAD') {
    answer(); // as kvs's read path does, without waiting for the (empty) body
    return;
  }
  // Read the body, as a server must before answering a write.
  request.on('data', () => {});
  request.on('end', answer);
}).listen(Number(portText), '127.0.0.1');
