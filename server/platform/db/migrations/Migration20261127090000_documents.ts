import { Migration } from '@mikro-orm/migrations';

export class Migration20261127090000_documents extends Migration {
  override name = 'Migration20261127090000_documents';

  override up(): void {
    this.addSql(
      `create table "documents" ("id" uuid not null, "organization_id" uuid not null, "owner_id" uuid not null, "title" varchar(200) not null, "content" text not null, "version" int not null default 1, "public" boolean not null default true, "updated_by_id" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `create index "documents_organization_id_updated_at_index" on "documents" ("organization_id", "updated_at");`,
    );
    this.addSql(
      `create index "documents_organization_id_owner_id_index" on "documents" ("organization_id", "owner_id");`,
    );
    this.addSql(
      `alter table "documents" add constraint "documents_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "documents" add constraint "documents_owner_id_foreign" foreign key ("owner_id") references "users" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "documents" add constraint "documents_updated_by_id_foreign" foreign key ("updated_by_id") references "users" ("id") on delete set null;`,
    );
    this.addSql(`alter table "documents" enable row level security;`);
    this.addSql(
      `create policy "documents_tenant_policy" on "documents" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "documents" cascade;`);
  }
}
