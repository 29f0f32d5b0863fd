import { Migration } from '@mikro-orm/migrations';

export class Migration20261206155109_pending_registrations extends Migration {
  override name = 'Migration20261206155109_pending_registrations';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "pending_registrations" ("id" uuid not null, "email" varchar(254) not null, "name" varchar(120) not null, "organization_name" varchar(120) not null, "password_hash" varchar(255) not null, "token_hash" varchar(64) null, "expires_at" timestamptz not null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "pending_registrations" add constraint "pending_registrations_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(`create index "pending_registrations_email_index" on "pending_registrations" ("email");`);
    this.addSql(
      `create index "pending_registrations_expires_at_index" on "pending_registrations" ("expires_at");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "pending_registrations" cascade;`);
  }
}
