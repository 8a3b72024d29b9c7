/**
 * Every route the server registered (from Fastify's onRoute hook), so that a
 * request for a known path with an unknown method gets 405 with `Allow`, and
 * so tests can walk the whole table.
 */
export class RouteTable {
  private readonly routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();

  add(url: string, methods: string | string[]): void {
    let route = this.routes.get(url);
    if (route === undefined) {
      route = { pattern: urlPattern(url), methods: new Set() };
      this.routes.set(url, route);
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) route.methods.add(method.toUpperCase());
  }

  /** The methods served for `path`, or an empty list if no route matches it. */
  allowedMethods(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.routes.values()) {
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }

  /** Every route as [url, methods]. */
  entries(): Array<{ url: string; methods: string[] }> {
    return [...this.routes].map(([url, route]) => ({ url, methods: [...route.methods].sort() }));
  }
}

function urlPattern(url: string): RegExp {
  const source = url
    .split(/(\*|:[A-Za-z0-9_]+)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}
