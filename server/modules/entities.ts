import { ActivityLog } from './activity/activity.entity.ts';
import { AlertEvent } from './alerts/alert-event.entity.ts';
import { ApiToken } from './auth/api-token.entity.ts';
import { User } from './auth/user.entity.ts';
import { BillingNotification, StripeEvent, Subscription } from './billing/billing.entity.ts';
import { Document } from './documents/document.entity.ts';
import { FeatureFlag, FlagAudit, FlagOverride } from './flags/flag.entity.ts';
import { FailedJob } from './jobs/failed-job.entity.ts';
import { OpsAudit } from './ops/ops-audit.entity.ts';
import { DataExport } from './exports/export.entity.ts';
import { DataImport } from './imports/import.entity.ts';
import { Invitation } from './invitations/invitation.entity.ts';
import { PasswordResetToken } from './auth/password-reset.entity.ts';
import { PendingRegistration } from './auth/pending-registration.entity.ts';
import { BusinessRecord } from './records/record.entity.ts';
import { OutboxMessage } from './realtime/outbox.entity.ts';
import { Schedule } from './schedules/schedule.entity.ts';
import { Membership } from './tenancy/membership.entity.ts';
import { Organization } from './tenancy/organization.entity.ts';

/** Every entity of every module; the ORM and the migration generator read this one list. */
export const entities = [
  Organization,
  User,
  Membership,
  ApiToken,
  ActivityLog,
  FailedJob,
  FeatureFlag,
  FlagOverride,
  FlagAudit,
  AlertEvent,
  Document,
  Subscription,
  StripeEvent,
  BillingNotification,
  OpsAudit,
  BusinessRecord,
  DataExport,
  DataImport,
  Invitation,
  PasswordResetToken,
  PendingRegistration,
  OutboxMessage,
  Schedule,
];
