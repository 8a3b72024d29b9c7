/**
 * The console's only way to make DOM: elements from createElement, text from
 * text nodes. Nothing here (or anywhere in src/web) parses HTML, so a key, a
 * value or a content type is always shown as the characters it is. The page's
 * CSP also enforces it (Trusted Types with no policy: innerHTML throws).
 */

export type Child = Node | string | number | null | undefined | false;

type Handler = (event: Event) => void;

/** Attributes and properties `h` sets: `class`, `text`, booleans, handlers (`on*`, functions only), and plain attributes. */
export interface Props {
  class?: string;
  /** Text content (set as text, never markup). */
  text?: string;
  hidden?: boolean;
  disabled?: boolean;
  [attribute: string]: string | number | boolean | Handler | undefined;
}

/** `<tag props>children</tag>`, built with the DOM's methods. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (name === 'class') element.className = String(value);
    else if (name === 'text') element.textContent = String(value);
    else if (name.startsWith('on')) {
      // A handler must be a function: a string would be script.
      if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
      element.addEventListener(name.slice(2), value);
    } else if (value === true) element.setAttribute(name, '');
    else if (typeof value === 'function') throw new TypeError(`${name} cannot be a function`);
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces `parent`'s children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

/**
 * Characters that would hide or disguise a key when shown as they are:
 * C0/C1 controls and DEL (line breaks, tabs...), bidirectional overrides and
 * isolates (which reorder what follows), zero-width characters and the BOM.
 */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;
const INVISIBLES = new RegExp(INVISIBLE.source, 'gu');

/**
 * A key (or any stored text shown in one line) as exactly its characters:
 * invisible ones are shown as their code point (U+000A) in a marked box, so
 * that two different keys never look the same. An empty string is shown as
 * a marked "(empty)".
 */
export function keyText(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  if (text === '') {
    fragment.append(h('span', { class: 'placeholder', text: '(empty)' }));
    return fragment;
  }
  if (!INVISIBLE.test(text)) {
    fragment.append(text);
    return fragment;
  }
  let last = 0;
  for (const match of text.matchAll(INVISIBLES)) {
    const at = match.index;
    if (at > last) fragment.append(text.slice(last, at));
    const code = match[0].codePointAt(0)!;
    fragment.append(h('span', { class: 'ctl', title: 'an invisible character in the key', text: `U+${code.toString(16).toUpperCase().padStart(4, '0')}` }));
    last = at + match[0].length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

/** Text for one `title` attribute (a tooltip is plain text, never markup). */
export function titleText(text: string): string {
  return text.replace(INVISIBLES, (character) => `\\u{${character.codePointAt(0)!.toString(16)}}`);
}
