import { h, type Child } from './dom.js';

/**
 * Modal dialogs on the platform's <dialog>: focus is trapped, Escape cancels,
 * and the page behind is inert while one is open.
 */

export interface ConfirmOptions {
  title: string;
  body: Child[];
  confirm: string;
  /** A destructive action: its button is red. */
  danger?: boolean;
}

/** Asks; resolves true when confirmed, false when cancelled (button, Escape). */
export function confirmDialog(options: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const confirm = h('button', { type: 'button', class: options.danger === true ? 'danger solid' : 'primary', text: options.confirm });
    const heading = h('h2', { text: options.title });
    const dialog = h(
      'dialog',
      {},
      h('div', { class: 'dialog-body' }, heading, h('div', {}, ...options.body), h('div', { class: 'dialog-actions' }, cancel, confirm)),
    );
    const headingId = `dialog-${Math.random().toString(36).slice(2)}`;
    heading.id = headingId;
    dialog.setAttribute('aria-labelledby', headingId);
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    confirm.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has the focus: Enter does not delete by accident.
    cancel.focus();
  });
}

export interface TokenPromptOptions {
  /** Why a token is asked for again (a refusal, in words), or null the first time. */
  refused: string | null;
}

/**
 * Asks for a token; resolves with what was typed. It cannot be dismissed:
 * without a token the server shows nothing.
 */
export function tokenDialog(options: TokenPromptOptions): Promise<string> {
  return new Promise((resolve) => {
    const input = h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
    const submit = h('button', { type: 'submit', class: 'primary', text: 'Connect' });
    const refused = options.refused === null ? null : h('p', { class: 'refused', role: 'alert', text: options.refused });
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'token-title', text: 'This kvs server needs a token' }),
      h('p', {
        text: 'Enter a bearer token (KV_ADMIN_TOKEN, or one of KV_TOKENS_FILE). The console shows the keys that token may read, and lets you edit those it may write.',
      }),
      refused,
      h('label', { for: 'token-input', text: 'Token' }),
      input,
      h('p', { class: 'note', text: 'It stays in this tab (session storage) and is sent only to this server.' }),
      h('div', { class: 'dialog-actions' }, submit),
    );
    const dialog = h('dialog', { 'aria-labelledby': 'token-title', class: 'token-dialog' }, form);
    // Escape would close it: there is nothing to go back to.
    dialog.addEventListener('cancel', (event: Event) => event.preventDefault());
    form.addEventListener('submit', (event: Event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token === '') return;
      dialog.close();
      dialog.remove();
      resolve(token);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
