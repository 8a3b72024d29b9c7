/**
 * JSON pretty-printed and highlighted from its own text, token by token: not
 * through JSON.parse and stringify, which would show 12345678901234567890 as
 * 12345678901234567000 and rewrite escapes. The text must be valid JSON
 * (checked with JSON.parse first). Iterative: any depth.
 */

type TokenClass = 'j-key' | 'j-str' | 'j-num' | 'j-lit' | 'j-punct';

interface Token {
  kind: 'string' | 'number' | 'literal' | '{' | '}' | '[' | ']' | ':' | ',';
  text: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const character = text[index]!;
    if (character === ' ' || character === '\n' || character === '\r' || character === '\t') {
      index += 1;
    } else if (character === '"') {
      let end = index + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      tokens.push({ kind: 'string', text: text.slice(index, end + 1) });
      index = end + 1;
    } else if ('{}[]:,'.includes(character)) {
      tokens.push({ kind: character as Token['kind'], text: character });
      index += 1;
    } else if (character === 't' || character === 'f' || character === 'n') {
      const word = character === 'f' ? 'false' : character === 't' ? 'true' : 'null';
      tokens.push({ kind: 'literal', text: word });
      index += word.length;
    } else {
      let end = index + 1;
      while (end < text.length && /[-+0-9.eE]/.test(text[end]!)) end += 1;
      tokens.push({ kind: 'number', text: text.slice(index, end) });
      index = end;
    }
  }
  return tokens;
}

/** Runs of [class, text] for valid JSON `text`, indented by two spaces; whitespace joins the punctuation around it. */
export function prettyJsonRuns(text: string): Array<[TokenClass, string]> {
  const tokens = tokenize(text);
  const runs: Array<[TokenClass, string]> = [];
  const push = (kind: TokenClass, piece: string) => {
    const last = runs.at(-1);
    if (last !== undefined && last[0] === kind) last[1] += piece;
    else runs.push([kind, piece]);
  };
  let depth = 0;
  const newline = () => push('j-punct', `\n${'  '.repeat(depth)}`);
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index]!;
    switch (token.kind) {
      case '{':
      case '[': {
        const next = tokens[index + 1];
        if (next !== undefined && next.kind === (token.kind === '{' ? '}' : ']')) {
          push('j-punct', token.kind === '{' ? '{}' : '[]');
          index += 1;
          break;
        }
        push('j-punct', token.text);
        depth += 1;
        newline();
        break;
      }
      case '}':
      case ']':
        depth -= 1;
        newline();
        push('j-punct', token.text);
        break;
      case ',':
        push('j-punct', ',');
        newline();
        break;
      case ':':
        push('j-punct', ': ');
        break;
      case 'string':
        push(tokens[index + 1]?.kind === ':' ? 'j-key' : 'j-str', token.text);
        break;
      case 'number':
        push('j-num', token.text);
        break;
      case 'literal':
        push('j-lit', token.text);
        break;
    }
  }
  return runs;
}

/** The pretty-printed JSON as text nodes in spans of their class (never markup). */
export function prettyJsonFragment(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const [kind, piece] of prettyJsonRuns(text)) {
    const span = document.createElement('span');
    span.className = kind;
    span.textContent = piece;
    fragment.append(span);
  }
  return fragment;
}

/** The pretty-printed JSON as plain text (for values too large to highlight). */
export function prettyJsonText(text: string): string {
  return prettyJsonRuns(text)
    .map(([, piece]) => piece)
    .join('');
}
