/**
 * A change to who may do what: `revoked` keys also end live subscriptions; `changed` keys only refresh caches.
 * In a file of its own (no imports) because the realtime watcher that announces changes sits below the access service,
 * which imports the auth service, which announces through the watcher: a type here keeps that from becoming a circle.
 */
export interface AccessChange {
  revoked: string[];
  changed?: string[];
}
