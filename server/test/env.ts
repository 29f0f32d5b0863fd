import { loadTestServices } from '../config/env.ts';

const services = loadTestServices();
export const TEST_PG_URL = services.pgUrl;
export const TEST_REDIS_URL = services.redisUrl;

export function adminUrl(base: string, database: string): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}
