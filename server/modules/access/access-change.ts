/**
 * A change to who may do what: `revoked` keys also end live subscriptions; `changed` keys only refresh caches.
 * In a file of its own (no imports) because the realtime watcher that announces changes sits below the access service,
 * which imports the auth service, which announces through the watcher: a type here keeps that from becoming a circle.
 */
export interface AccessChange {
  revoked: string[];
  changed?: string[];
}

/**
 * The access keys: the tags of cached principals and memberships, and what a live subscription depends on. Built
 * here only, so the writer that announces a change and the cache that drops it always spell a key alike.
 */
export const accessKey = {
  user: (userId: string) => `user:${userId}`,
  org: (organizationId: string) => `org:${organizationId}`,
  member: (organizationId: string, userId: string) => `member:${organizationId}:${userId}`,
  token: (tokenId: string) => `token:${tokenId}`,
};
