import { Migration } from '@mikro-orm/migrations';

/** Business records (what exports write and imports read), exports, imports, invitations and password resets. */
export class Migration20261127150000_records_exports_imports extends Migration {
  override name = 'Migration20261127150000_records_exports_imports';

  override up(): void {
    this.addSql(
      `create table "password_reset_tokens" ("id" uuid not null, "user_id" uuid not null, "token_hash" varchar(64) not null, "expires_at" timestamptz not null, "used_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "password_reset_tokens" add constraint "password_reset_tokens_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(
      `create index "password_reset_tokens_user_id_created_at_index" on "password_reset_tokens" ("user_id", "created_at");`,
    );
    this.addSql(
      `create table "invitations" ("id" uuid not null, "organization_id" uuid not null, "email" varchar(254) not null, "role" text not null, "token_hash" varchar(64) not null, "invited_by_id" uuid null, "expires_at" timestamptz not null, "accepted_at" timestamptz null, "accepted_by_id" uuid null, "revoked_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "invitations" add constraint "invitations_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(
      `create index "invitations_organization_id_created_at_index" on "invitations" ("organization_id", "created_at");`,
    );
    this.addSql(
      `create unique index "invitations_open_email_unique" on "invitations" ("organization_id", "email") where "accepted_at" is null and "revoked_at" is null;`,
    );
    this.addSql(
      `create table "imports" ("id" uuid not null, "organization_id" uuid not null, "requested_by_id" uuid null, "filename" varchar(200) not null, "file_key" varchar(300) not null, "max_bytes" int not null, "status" text not null, "bytes" int null, "total_rows" int null, "imported_rows" int null, "error_count" int not null default 0, "errors" jsonb not null default '[]', "report_key" varchar(300) null, "error" varchar(500) null, "batch_id" uuid null, "job_id" varchar(100) null, "created_at" timestamptz not null, "started_at" timestamptz null, "finished_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(
      `create index "imports_organization_id_created_at_index" on "imports" ("organization_id", "created_at");`,
    );
    this.addSql(
      `create index "imports_organization_id_batch_id_index" on "imports" ("organization_id", "batch_id");`,
    );
    this.addSql(
      `create table "exports" ("id" uuid not null, "organization_id" uuid not null, "requested_by_id" uuid null, "filters" jsonb not null, "filters_hash" varchar(64) not null, "status" text not null, "queue" varchar(16) not null, "job_id" varchar(100) null, "total_rows" int null, "row_count" int null, "bytes" bigint null, "file_key" varchar(300) null, "error" varchar(500) null, "cancel_requested_at" timestamptz null, "created_at" timestamptz not null, "started_at" timestamptz null, "finished_at" timestamptz null, "expires_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(
      `create index "exports_organization_id_created_at_index" on "exports" ("organization_id", "created_at");`,
    );
    this.addSql(
      `create index "exports_organization_id_filters_hash_created_at_index" on "exports" ("organization_id", "filters_hash", "created_at");`,
    );
    this.addSql(
      `create unique index "exports_active_filters_unique" on "exports" ("organization_id", "filters_hash") where "status" in ('queued', 'running');`,
    );
    this.addSql(
      `create table "records" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid null, "category" varchar(64) not null, "status" text not null, "amount" numeric(14,2) not null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `create index "records_organization_id_created_at_id_index" on "records" ("organization_id", "created_at", "id");`,
    );
    this.addSql(
      `create index "records_organization_id_status_created_at_index" on "records" ("organization_id", "status", "created_at");`,
    );
    this.addSql(`create index "records_user_id_index" on "records" ("user_id");`);
    this.addSql(
      `alter table "password_reset_tokens" add constraint "password_reset_tokens_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "invitations" add constraint "invitations_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "invitations" add constraint "invitations_invited_by_id_foreign" foreign key ("invited_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "invitations" add constraint "invitations_accepted_by_id_foreign" foreign key ("accepted_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "invitations" add constraint "invitations_role_check" check ("role" in ('owner', 'admin', 'member'));`,
    );
    this.addSql(`alter table "invitations" enable row level security;`);
    this.addSql(
      `create policy "invitations_tenant_policy" on "invitations" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(
      `alter table "imports" add constraint "imports_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "imports" add constraint "imports_requested_by_id_foreign" foreign key ("requested_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "imports" add constraint "imports_status_check" check ("status" in ('uploading', 'queued', 'validating', 'importing', 'completed', 'invalid', 'failed'));`,
    );
    this.addSql(`alter table "imports" enable row level security;`);
    this.addSql(
      `create policy "imports_tenant_policy" on "imports" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(
      `alter table "exports" add constraint "exports_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "exports" add constraint "exports_requested_by_id_foreign" foreign key ("requested_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "exports" add constraint "exports_status_check" check ("status" in ('queued', 'running', 'completed', 'failed', 'cancelled'));`,
    );
    this.addSql(`alter table "exports" enable row level security;`);
    this.addSql(
      `create policy "exports_tenant_policy" on "exports" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(
      `alter table "records" add constraint "records_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "records" add constraint "records_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "records" add constraint "records_status_check" check ("status" in ('pending', 'active', 'completed', 'cancelled'));`,
    );
    this.addSql(`alter table "records" enable row level security;`);
    this.addSql(
      `create policy "records_tenant_policy" on "records" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "records" cascade;`);
    this.addSql(`drop table if exists "exports" cascade;`);
    this.addSql(`drop table if exists "imports" cascade;`);
    this.addSql(`drop table if exists "invitations" cascade;`);
    this.addSql(`drop table if exists "password_reset_tokens" cascade;`);
  }
}
