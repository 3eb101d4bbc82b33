// The keyboard shortcuts (listed for the reader in ui.js SHORTCUTS): the action a key asks for,
// as [name, argument]; main.js runs it.

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
  Delete: ['removeMark'],
  Backspace: ['removeMark'],
  Enter: ['submit'],
  b: ['previous'],
  Escape: ['escape'],
};

/**
 * The shortcut of a keydown: digits (top row or keypad) rate, Shift+digit picks a window preset.
 * @param {{key: string, code: string, shiftKey: boolean}} event
 * @returns {[string, *] | null}
 */
export function shortcutOf({ key, code, shiftKey }) {
  const digit = /^(?:Digit|Numpad)(\d)$/.exec(code)?.[1];
  if (digit !== undefined) return shiftKey ? ['preset', Number(digit) - 1] : ['rating', Number(digit)];
  const name = key.length === 1 ? key.toLowerCase() : key;
  return Object.hasOwn(KEYS, name) ? KEYS[name] : null;
}
