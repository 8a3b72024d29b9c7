/**
 * The console's only way to make DOM: elements from createElement, text from
 * text nodes. Nothing here (or anywhere in src/web) parses HTML, so a key, a
 * value or a content type is always shown as the characters it is. The page's
 * CSP also enforces it (Trusted Types with no policy: innerHTML throws).
 */

import { codePointName, keyParts, plainKey } from './key-display.js';

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
 * A key (or any stored text shown in one line) as exactly its characters:
 * invisible and look-alike ones (key-display.ts) are shown as their code
 * point (U+000A) in a marked box, so that two different keys never look the
 * same. An empty string is shown as a marked "(empty)".
 */
export function keyText(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  if (text === '') {
    fragment.append(h('span', { class: 'placeholder', text: '(empty)' }));
    return fragment;
  }
  for (const part of keyParts(text)) {
    if (typeof part === 'string') fragment.append(part);
    else fragment.append(h('span', { class: 'ctl', title: 'an invisible or look-alike character in the key', text: codePointName(part.codePoint) }));
  }
  return fragment;
}

/** Text for one `title` attribute or message (plain text, never markup): the same characters escaped, as ⟨U+000A⟩. */
export const titleText = plainKey;
