// Which fields of an API payload a reader function of payloads.js reads, for the checks against
// reader_fields.json and training_fields.json (payloads.test.js, training.test.js).

/**
 * ``payload`` wrapped so that reading a field records its dotted path: an item of a list is
 * recorded under the list's key, and a list's own properties (length, map, ...) are not fields.
 */
function recording(payload, reads, path = '') {
  if (payload === null || typeof payload !== 'object') return payload;
  return new Proxy(payload, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key === 'symbol') return value;
      if (Array.isArray(target)) return /^\d+$/.test(key) ? recording(value, reads, path) : value;
      const field = path ? `${path}.${key}` : key;
      reads.add(field);
      return recording(value, reads, field);
    },
  });
}

/** Paths read but not declared (a container counts as read when a field inside it is declared), and declared but not read. */
export function compare(reads, declared) {
  const inside = (path) => declared.some((d) => d === path || d.startsWith(`${path}.`));
  return {
    undeclared: [...reads].filter((path) => !inside(path)).sort(),
    unread: declared.filter((path) => !reads.has(path)).sort(),
  };
}

export function fieldsRead(reader, ...payloads) {
  const reads = new Set();
  for (const payload of payloads) reader(recording(structuredClone(payload), reads));
  return reads;
}
