/** Small helpers over fetch for tests: every call is a real HTTP request. */
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function request<T = any>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: any = undefined;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json') && text !== '') body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body, text };
}

export function putValue(base: string, key: string, value: string | Buffer, init: RequestInit & { query?: string } = {}): Promise<JsonResponse> {
  const { query, ...rest } = init;
  return request(`${base}/v1/kv/${encodeKey(key)}${query ? `?${query}` : ''}`, { method: 'PUT', body: value, ...rest });
}

/** Percent-encodes a key for a path, keeping `/` readable. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<JsonResponse> {
  return request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });
}

/** Asserts the RFC 9457 shape kvs uses and returns the problem. */
export function expectProblem(response: JsonResponse, status: number, code: string): any {
  if (response.status !== status) throw new Error(`expected ${status} ${code}, got ${response.status}: ${response.text}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('application/problem+json')) throw new Error(`expected application/problem+json, got ${type}: ${response.text}`);
  const problem = response.body;
  if (problem.status !== status || problem.code !== code || typeof problem.title !== 'string' || typeof problem.detail !== 'string') {
    throw new Error(`malformed problem for ${status} ${code}: ${response.text}`);
  }
  return problem;
}
