import { Migration } from '@mikro-orm/migrations';

export class Migration20261126130000_failed_jobs extends Migration {
  override name = 'Migration20261126130000_failed_jobs';

  override up(): void {
    this.addSql(
      `create table "failed_jobs" ("id" varchar(100) not null, "queue" varchar(32) not null, "name" varchar(120) not null, "organization_id" uuid null, "batch_id" varchar(64) null, "payload" jsonb not null, "envelope" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "failed_jobs_failed_at_index" on "failed_jobs" ("failed_at");`);
    this.addSql(`create index "failed_jobs_queue_failed_at_index" on "failed_jobs" ("queue", "failed_at");`);
    this.addSql(`create index "failed_jobs_name_failed_at_index" on "failed_jobs" ("name", "failed_at");`);
    this.addSql(
      `alter table "failed_jobs" add constraint "failed_jobs_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete set null;`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "failed_jobs" cascade;`);
  }
}
