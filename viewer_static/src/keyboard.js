// The keyboard shortcuts (listed for the reader in ui.js SHORTCUTS): the action a key asks for,
// as [name, argument]; controls.js runs it. They work wherever the focus is (a button or the
// rating slider just clicked included), except that a text field keeps the keys typed into it
// and the slider the keys that move it. Enter submits from anywhere, a text field included:
// Shift+Enter starts a new line there.

const SCROLL = { ArrowUp: -1, ArrowLeft: -1, PageUp: -1, ArrowDown: 1, ArrowRight: 1, PageDown: 1, Home: -1e6, End: 1e6 };

const KEYS = {
  ...Object.fromEntries(Object.entries(SCROLL).map(([key, step]) => [key, ['scroll', step]])),
  ']': ['nudge', 1],
  '[': ['nudge', -1],
  '}': ['nudge', 10],
  '{': ['nudge', -10],
  w: ['tool', 'wl'],
  z: ['tool', 'zoom'],
  p: ['tool', 'pan'],
  l: ['tool', 'length'],
  m: ['markTool'],
  i: ['action', 'invert'],
  f: ['action', 'fit'],
  r: ['action', 'reset'],
  '+': ['action', 'zoom-in'],
  '=': ['action', 'zoom-in'],
  '-': ['action', 'zoom-out'],
  '?': ['action', 'help'],
  y: ['decision', true],
  n: ['decision', false],
  a: ['toggleAi'],
  c: ['comment'],
  u: ['undo'],
  Delete: ['removeMark'],
  Backspace: ['removeMark'],
  Enter: ['submit'],
  b: ['previous'],
  Escape: ['escape'],
};

const TEXT_INPUTS = new Set(['text', 'number', 'search', 'email', 'url', 'tel', 'password']);

/**
 * What a focused element does with keys: 'text' keeps what is typed (a textarea, a text or number
 * input, a select's type-ahead), 'range' keeps the keys that move a slider, null none.
 * @param {{tagName?: string, type?: string, isContentEditable?: boolean} | null} target
 */
export function fieldKind(target) {
  const tag = target?.tagName?.toLowerCase();
  if (tag === 'textarea' || tag === 'select' || target?.isContentEditable) return 'text';
  if (tag !== 'input') return null;
  if (target.type === 'range') return 'range';
  return TEXT_INPUTS.has(target.type) ? 'text' : null;
}

/**
 * The shortcut of a keydown: digits (top row or keypad) rate, Shift+digit picks a window preset.
 * @param {{key: string, code: string, shiftKey: boolean, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} event
 * @param {'text'|'range'|null} field where the focus is (fieldKind)
 * @returns {[string, *] | null}
 */
export function shortcutOf({ key, code, shiftKey, ctrlKey = false, metaKey = false, altKey = false }, field = null) {
  if (key === 'Enter') return shiftKey && field === 'text' ? null : KEYS.Enter; // Ctrl+Enter too, as before
  if (key === 'Escape') return KEYS.Escape;
  if (ctrlKey || metaKey || altKey || field === 'text') return null;
  if (field === 'range' && Object.hasOwn(SCROLL, key)) return null;
  const digit = /^(?:Digit|Numpad)(\d)$/.exec(code)?.[1];
  if (digit !== undefined) return shiftKey ? ['preset', Number(digit) - 1] : ['rating', Number(digit)];
  const name = key.length === 1 ? key.toLowerCase() : key;
  return Object.hasOwn(KEYS, name) ? KEYS[name] : null;
}
