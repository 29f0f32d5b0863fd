import type { IOrganization } from './organization.entity.ts';

/** Per-tenant overrides of configuration; anything an organization has not set falls back to these defaults. */
export interface TenantSettings {
  timezone: string;
  locale: string;
  dashboardCacheSeconds: number;
}

export const DEFAULT_TENANT_SETTINGS: TenantSettings = {
  timezone: 'UTC',
  locale: 'en',
  dashboardCacheSeconds: 60,
};

export function tenantSettings(
  org: Pick<IOrganization, 'settings'>,
  defaults: TenantSettings = DEFAULT_TENANT_SETTINGS,
): TenantSettings {
  const s = org.settings;
  return {
    timezone: typeof s.timezone === 'string' ? s.timezone : defaults.timezone,
    locale: typeof s.locale === 'string' ? s.locale : defaults.locale,
    dashboardCacheSeconds:
      typeof s.dashboardCacheSeconds === 'number' ? s.dashboardCacheSeconds : defaults.dashboardCacheSeconds,
  };
}
