import { Migration } from '@mikro-orm/migrations';

export class Migration20261126120000_feature_flags extends Migration {
  override name = 'Migration20261126120000_feature_flags';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "feature_flags" ("id" uuid not null, "key" varchar(100) not null, "description" varchar(500) not null, "kind" text not null, "variants" jsonb not null, "default_variant" varchar(40) not null, "on_variant" varchar(40) not null, "enabled" boolean not null default false, "rollout_basis_points" int not null default 0, "killed" boolean not null default false, "owner" varchar(120) not null, "expected_removal_at" timestamptz null, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "feature_flags" add constraint "feature_flags_key_unique" unique ("key");`);
    this.addSql(
      `alter table "feature_flags" add constraint "feature_flags_kind_check" check ("kind" in ('boolean', 'variant'));`,
    );
    this.addSql(
      `alter table "feature_flags" add constraint "feature_flags_rollout_check" check (((rollout_basis_points >= 0) AND (rollout_basis_points <= 10000)));`,
    );

    this.addSql(
      `create table "feature_flag_audit" ("id" bigserial primary key, "flag_key" varchar(100) not null, "action" varchar(40) not null, "actor_id" uuid null, "actor_email" varchar(254) null, "organization_id" uuid null, "before" jsonb null, "after" jsonb null, "created_at" timestamptz not null);`,
    );
    this.addSql(
      `create index "feature_flag_audit_flag_key_created_at_index" on "feature_flag_audit" ("flag_key", "created_at");`,
    );
    this.addSql(`create index "feature_flag_audit_created_at_index" on "feature_flag_audit" ("created_at");`);
    // The audit log is append-only for everyone, the table owner included (declared as entity triggers).
    this.addSql(
      `create or replace function "feature_flag_audit_feature_flag_audit_append_only_fn"() returns trigger as $$ begin raise exception 'feature_flag_audit is append-only'; end; $$ language plpgsql;`,
    );
    this.addSql(
      `create trigger "feature_flag_audit_append_only" BEFORE UPDATE OR DELETE on "feature_flag_audit" for each ROW execute function "feature_flag_audit_feature_flag_audit_append_only_fn"();`,
    );

    this.addSql(
      `create table "feature_flag_overrides" ("id" uuid not null, "organization_id" uuid not null, "flag_id" uuid not null, "variant" varchar(40) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `create index "feature_flag_overrides_flag_id_index" on "feature_flag_overrides" ("flag_id");`,
    );
    this.addSql(
      `alter table "feature_flag_overrides" add constraint "feature_flag_overrides_organization_id_flag_id_unique" unique ("organization_id", "flag_id");`,
    );
    this.addSql(
      `alter table "feature_flag_overrides" add constraint "feature_flag_overrides_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "feature_flag_overrides" add constraint "feature_flag_overrides_flag_id_foreign" foreign key ("flag_id") references "feature_flags" ("id") on delete cascade;`,
    );
    this.addSql(`alter table "feature_flag_overrides" enable row level security;`);
    this.addSql(
      `create policy "feature_flag_overrides_tenant_policy" on "feature_flag_overrides" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "feature_flag_overrides" cascade;`);
    this.addSql(`drop table if exists "feature_flag_audit" cascade;`);
    this.addSql(`drop function if exists "feature_flag_audit_feature_flag_audit_append_only_fn"();`);
    this.addSql(`drop table if exists "feature_flags" cascade;`);
  }
}
