import { Migration } from '@mikro-orm/migrations';

export class Migration20261125014108 extends Migration {
  override name = 'Migration20261125014108_initial';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "organizations" ("id" uuid not null, "name" varchar(120) not null, "slug" varchar(63) not null, "tier" text not null default 'free', "active" boolean not null default true, "billing_email" varchar(254) null, "stripe_customer_id" varchar(255) null, "settings" jsonb not null default '{}', "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "organizations" add constraint "organizations_slug_unique" unique ("slug");`);
    this.addSql(
      `alter table "organizations" add constraint "organizations_stripe_customer_id_unique" unique ("stripe_customer_id");`,
    );
    this.addSql(
      `alter table "organizations" add constraint "organizations_tier_check" check ("tier" in ('free', 'professional', 'enterprise'));`,
    );

    this.addSql(
      `create table "users" ("id" uuid not null, "email" varchar(254) not null, "name" varchar(120) not null, "password_hash" varchar(255) not null, "staff" boolean not null default false, "current_organization_id" uuid null, "last_active_at" timestamptz null, "timezone" varchar(64) not null default 'UTC', "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);

    this.addSql(
      `create table "memberships" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "role" text not null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "memberships_user_id_index" on "memberships" ("user_id");`);
    this.addSql(
      `alter table "memberships" add constraint "memberships_organization_id_user_id_unique" unique ("organization_id", "user_id");`,
    );
    this.addSql(
      `alter table "memberships" add constraint "memberships_role_check" check ("role" in ('owner', 'admin', 'member'));`,
    );

    this.addSql(
      `create table "api_tokens" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "name" varchar(120) not null, "token_hash" varchar(64) not null, "abilities" text[] not null, "last_used_at" timestamptz null, "expires_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "api_tokens" add constraint "api_tokens_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(
      `create index "api_tokens_organization_id_user_id_index" on "api_tokens" ("organization_id", "user_id");`,
    );

    this.addSql(
      `create table "activity_log" ("id" bigserial primary key, "organization_id" uuid not null, "user_id" uuid null, "action" varchar(64) not null, "subject_type" varchar(64) null, "subject_id" varchar(64) null, "metadata" jsonb null, "created_at" timestamptz not null);`,
    );
    this.addSql(
      `create index "activity_log_organization_id_created_at_index" on "activity_log" ("organization_id", "created_at");`,
    );
    this.addSql(
      `create index "activity_log_organization_id_user_id_created_at_index" on "activity_log" ("organization_id", "user_id", "created_at");`,
    );
    this.addSql(
      `create index "activity_log_organization_id_subject_type_subject_id_index" on "activity_log" ("organization_id", "subject_type", "subject_id");`,
    );

    this.addSql(
      `alter table "users" add constraint "users_current_organization_id_foreign" foreign key ("current_organization_id") references "organizations" ("id") on delete set null;`,
    );

    this.addSql(
      `alter table "memberships" add constraint "memberships_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "memberships" add constraint "memberships_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "api_tokens" add constraint "api_tokens_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "api_tokens" add constraint "api_tokens_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "activity_log" add constraint "activity_log_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "activity_log" add constraint "activity_log_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete set null;`,
    );

    this.addSql(`alter table "memberships" enable row level security;`);
    this.addSql(
      `create policy "memberships_tenant_policy" on "memberships" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(`alter table "api_tokens" enable row level security;`);
    this.addSql(
      `create policy "api_tokens_tenant_policy" on "api_tokens" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(`alter table "activity_log" enable row level security;`);
    this.addSql(
      `create policy "activity_log_tenant_policy" on "activity_log" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of ['activity_log', 'api_tokens', 'memberships', 'users', 'organizations']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
