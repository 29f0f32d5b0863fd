import { Migration } from '@mikro-orm/migrations';

/** Per-tenant schedules (issue 21 item 7): a tenant table with row-level security like exports. */
export class Migration20261206201000_schedules extends Migration {
  override name = 'Migration20261206201000_schedules';

  override up(): void {
    this.addSql(
      `create table "schedules" ("id" uuid not null, "organization_id" uuid not null, "created_by_id" uuid null, "job" varchar(120) not null, "spec" varchar(100) not null, "cron" varchar(100) not null, "time_zone" varchar(64) not null, "payload" jsonb not null, "paused" boolean not null default false, "next_run_at" timestamptz null, "last_run_at" timestamptz null, "last_job_id" varchar(100) null, "last_error" varchar(500) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `create index "schedules_organization_id_created_at_index" on "schedules" ("organization_id", "created_at");`,
    );
    this.addSql(`create index "schedules_next_run_at_index" on "schedules" ("next_run_at");`);
    this.addSql(
      `alter table "schedules" add constraint "schedules_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "schedules" add constraint "schedules_created_by_id_foreign" foreign key ("created_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(`alter table "schedules" enable row level security;`);
    this.addSql(
      `create policy "schedules_tenant_policy" on "schedules" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "schedules" cascade;`);
  }
}
