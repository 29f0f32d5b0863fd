import { Migration } from '@mikro-orm/migrations';

export class Migration20261127120000_ops_audit extends Migration {
  override name = 'Migration20261127120000_ops_audit';

  override up(): void {
    this.addSql(
      `create table "ops_audit" ("id" bigserial primary key, "operator_id" uuid null, "operator" varchar(254) not null, "action" varchar(60) not null, "target_type" varchar(40) not null, "target_id" varchar(255) null, "details" jsonb not null, "request_id" varchar(100) null, "created_at" timestamptz not null);`,
    );
    this.addSql(`create index "ops_audit_created_at_index" on "ops_audit" ("created_at");`);
    this.addSql(
      `create index "ops_audit_target_type_target_id_created_at_index" on "ops_audit" ("target_type", "target_id", "created_at");`,
    );
    this.addSql(
      `create index "ops_audit_operator_id_created_at_index" on "ops_audit" ("operator_id", "created_at");`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "ops_audit" cascade;`);
  }
}
