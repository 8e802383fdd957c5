import type { Queryable } from './types.js';

/**
 * A transaction's handle that refuses statements once the transaction has ended: postgres.js would run them on the
 * released connection, outside any transaction, and the caller would never know its write was not part of it.
 */
export function endingHandle(q: Queryable): { handle: Queryable; end: () => void } {
  let open = true;
  const check = () => {
    if (!open) throw new Error('Transaction is closed: use db.query() for statements after it ends');
  };
  return {
    handle: {
      query: async (sql, params) => (check(), q.query(sql, params)),
      exec: async (script) => (check(), q.exec(script)),
    },
    end: () => {
      open = false;
    },
  };
}
