import { ActivityLog } from './activity/activity.entity.ts';
import { ApiToken } from './auth/api-token.entity.ts';
import { User } from './auth/user.entity.ts';
import { Membership } from './tenancy/membership.entity.ts';
import { Organization } from './tenancy/organization.entity.ts';

/** Every entity of every module; the ORM and the migration generator read this one list. */
export const entities = [Organization, User, Membership, ApiToken, ActivityLog];
