import { Migration } from '@mikro-orm/migrations';

export class Migration20261126131000_alert_events extends Migration {
  override name = 'Migration20261126131000_alert_events';

  override up(): void {
    this.addSql(
      `create table "alert_events" ("id" bigserial primary key, "rule_id" varchar(64) not null, "kind" text not null, "severity" text null, "value" double precision null, "summary" varchar(500) not null, "delivered" text[] not null, "failed" text[] not null, "at" timestamptz not null);`,
    );
    this.addSql(`create index "alert_events_at_index" on "alert_events" ("at");`);
    this.addSql(`create index "alert_events_rule_id_at_index" on "alert_events" ("rule_id", "at");`);
    this.addSql(
      `alter table "alert_events" add constraint "alert_events_kind_check" check ("kind" in ('pending', 'fire', 'escalate', 'resolve'));`,
    );
    this.addSql(
      `alter table "alert_events" add constraint "alert_events_severity_check" check ("severity" in ('warning', 'critical'));`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "alert_events" cascade;`);
  }
}
