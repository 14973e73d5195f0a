// Objects keyed by policy text (operators, condition keys, principal types): without a prototype,
// `constructor` or `toString` find nothing and `__proto__` is an ordinary key.

/** An empty object with no prototype, for maps keyed by what a policy or a request says. */
export function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}
