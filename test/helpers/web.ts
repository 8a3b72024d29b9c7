/**
 * The web console's pure modules (no DOM at load or in the functions tested),
 * as the build emits them: src/web is compiled by its own tsconfig (the DOM's
 * types, none of Node's), which the tests' build does not see, so a test
 * imports dist/src/web/{name}.js at run time and names the types it uses.
 */
const WEB_OUTPUT = new URL('../../src/web/', import.meta.url);

export async function webModule<T>(name: string): Promise<T> {
  return (await import(new URL(`${name}.js`, WEB_OUTPUT).href)) as T;
}
