import { Migration } from '@mikro-orm/migrations';

export class Migration20261205120000_realtime_outbox extends Migration {
  override name = 'Migration20261205120000_realtime_outbox';

  override up(): void {
    this.addSql(
      `create table "realtime_outbox" ("id" bigserial primary key, "organization_id" uuid not null, "key_space" text not null, "channel" varchar(300) not null, "payload" jsonb not null, "max_len" int not null, "max_age_ms" bigint not null, "created_at" timestamptz not null);`,
    );
    this.addSql(
      `create index "realtime_outbox_key_space_id_index" on "realtime_outbox" ("key_space", "id");`,
    );
    this.addSql(
      `alter table "realtime_outbox" add constraint "realtime_outbox_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(`alter table "realtime_outbox" enable row level security;`);
    this.addSql(
      `create policy "realtime_outbox_tenant_policy" on "realtime_outbox" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "realtime_outbox" cascade;`);
  }
}
