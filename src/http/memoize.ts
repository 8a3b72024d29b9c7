/**
 * `parse` applied once per request: a route's access rule and its handler
 * both need what a body holds (a txn's keys), and should not parse it twice.
 */
export function memoize<Q extends object, R>(parse: (request: Q) => R): (request: Q) => R {
  const results = new WeakMap<Q, R>();
  return (request) => {
    if (!results.has(request)) results.set(request, parse(request));
    return results.get(request)!;
  };
}
