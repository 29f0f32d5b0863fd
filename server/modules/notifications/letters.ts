import type { Em } from '../../platform/db/context.ts';
import { passwordResetLetter } from '../auth/password-reset.service.ts';
import { registrationLetter } from '../auth/registration.service.ts';
import { User } from '../auth/user.entity.ts';
import { DataExport } from '../exports/export.entity.ts';
import { exportDownload } from '../exports/exports.service.ts';
import { DataImport } from '../imports/import.entity.ts';
import { reportDownload } from '../imports/imports.service.ts';
import { invitationLetter } from '../invitations/invitations.service.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import type { Letter, MailRequest } from './mail-requests.ts';
import { appLink, type DataServices } from './notifications.service.ts';

// How the mail job turns a request (ids, facts) into a message. `em` is the job's: scoped to the organization the
// mail was dispatched for (tenant filter and RLS on), so an id names only that organization's rows.

/** The letter a mail request stands for, or null when there is nobody to send it to any more. */
export async function letterFor(
  s: Pick<DataServices, 'config' | 'storage'>,
  em: Em,
  request: MailRequest,
): Promise<Letter | null> {
  switch (request.template) {
    case 'password-reset':
      return passwordResetLetter(s, em, request.email);
    case 'registration':
      return registrationLetter(s, em, request.registrationId);
    case 'invitation':
      return invitationLetter(s, em, request.invitationId);
    case 'export-ready':
    case 'export-failed':
      return exportLetter(s, em, request.template, request.exportId);
    case 'import-completed':
    case 'import-failed':
      return importLetter(s, em, request.template, request.importId);
    case 'import-batch-finished': {
      const { to, batchId, ...facts } = request;
      return written(to, { ...facts, url: appLink(s.config, `/app/imports?batch=${batchId}`) });
    }
    case 'payment-failed':
    case 'trial-ending': {
      const { to, ...facts } = request;
      return written(to, { ...facts, billingUrl: appLink(s.config, '/app/billing') });
    }
  }
}

/** A message with nothing left to mint. */
const written = (to: string, message: Awaited<ReturnType<Letter['write']>>): Letter => ({
  to,
  write: () => Promise.resolve(message),
});

/** The requester's address and the organization's name, or null when either is gone. */
async function requesterOf(em: Em, userId: string | undefined, organizationId: string) {
  if (!userId) return null;
  const [user, org] = await Promise.all([
    em.findOne(User, { id: userId }),
    em.findOne(Organization, { id: organizationId }),
  ]);
  return user && org ? { to: user.email, organizationName: org.name } : null;
}

/** The download link is signed when the message is written, valid until the file expires. */
async function exportLetter(
  s: Pick<DataServices, 'storage'>,
  em: Em,
  template: 'export-ready' | 'export-failed',
  exportId: string,
): Promise<Letter | null> {
  const row = await em.findOne(DataExport, { id: exportId }, { refresh: true });
  if (!row) return null;
  const who = await requesterOf(em, row.requestedBy?.id, row.organization.id);
  if (!who) return null;
  if (template === 'export-failed') {
    return written(who.to, {
      template,
      organizationName: who.organizationName,
      reason: (row.error ?? 'unknown error').slice(0, 500),
    });
  }
  const downloadable =
    row.status === 'completed' && row.fileKey && row.expiresAt && row.expiresAt > new Date();
  if (!downloadable) return null;
  return {
    to: who.to,
    async write() {
      const { url, expiresAt } = await exportDownload(s, row);
      return {
        template,
        organizationName: who.organizationName,
        rows: row.rowCount ?? 0,
        url,
        expiresAt: expiresAt.toISOString(),
      };
    },
  };
}

/** A failed import's report link is signed when the message is written. */
async function importLetter(
  s: Pick<DataServices, 'storage'>,
  em: Em,
  template: 'import-completed' | 'import-failed',
  importId: string,
): Promise<Letter | null> {
  const row = await em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row) return null;
  const who = await requesterOf(em, row.requestedBy?.id, row.organization.id);
  if (!who) return null;
  if (template === 'import-completed') {
    return written(who.to, {
      template,
      organizationName: who.organizationName,
      filename: row.filename,
      rows: row.importedRows ?? 0,
    });
  }
  return {
    to: who.to,
    async write() {
      return {
        template,
        organizationName: who.organizationName,
        filename: row.filename,
        errorCount: row.errorCount,
        errors: row.errors
          .slice(0, 10)
          .map((e) => ({ ...e, column: e.column.slice(0, 100), reason: e.reason.slice(0, 300) })),
        reportUrl: row.reportKey ? (await reportDownload(s, row)).url : null,
        ...(row.status === 'failed' && row.error ? { reason: row.error.slice(0, 300) } : {}),
      };
    },
  };
}
