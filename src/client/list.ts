import type { ListItem, ListOptions, ListPage } from './types.js';

/**
 * What `client.list()` returns: awaited, the first page (one request);
 * iterated with `for await`, every item of every page, following cursors.
 * `pages()` iterates whole pages (items and, with a delimiter, prefixes).
 */
export class ListQuery implements PromiseLike<ListPage>, AsyncIterable<ListItem> {
  constructor(
    private readonly options: ListOptions,
    private readonly fetchPage: (options: ListOptions) => Promise<ListPage>,
  ) {}

  then<Resolved = ListPage, Rejected = never>(
    onFulfilled?: ((page: ListPage) => Resolved | PromiseLike<Resolved>) | null,
    onRejected?: ((reason: unknown) => Rejected | PromiseLike<Rejected>) | null,
  ): Promise<Resolved | Rejected> {
    return this.fetchPage(this.options).then(onFulfilled, onRejected);
  }

  async *pages(): AsyncGenerator<ListPage> {
    let cursor = this.options.cursor;
    for (;;) {
      const page = await this.fetchPage({ ...this.options, ...(cursor === undefined ? {} : { cursor }) });
      yield page;
      if (page.cursor === null) return;
      cursor = page.cursor;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ListItem> {
    for await (const page of this.pages()) yield* page.items;
  }
}
