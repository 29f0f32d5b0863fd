import { Migration } from '@mikro-orm/migrations';

// The role row-level-security policies are enforced for. Keel switches to it (`set local role`) inside every
// tenant-scoped transaction; the connecting user keeps ownership of the tables and runs migrations. Creating a role
// needs CREATEROLE: on managed databases create `keel_app` once by hand and this migration only grants.
export class Migration20261125014200_app_role extends Migration {
  override name = 'Migration20261125014200_app_role';

  override up(): void {
    this.addSql(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = 'keel_app') then create role keel_app nologin; end if;
    end $$;`);
    this.addSql(
      `do $$ begin execute format('grant keel_app to %I', current_user); exception when others then null; end $$;`,
    );
    this.addSql(`grant usage on schema public to keel_app;`);
    this.addSql(`grant select, insert, update, delete on all tables in schema public to keel_app;`);
    this.addSql(`grant usage, select on all sequences in schema public to keel_app;`);
    this.addSql(
      `alter default privileges in schema public grant select, insert, update, delete on tables to keel_app;`,
    );
    this.addSql(`alter default privileges in schema public grant usage, select on sequences to keel_app;`);
  }

  override down(): void {
    this.addSql(
      `alter default privileges in schema public revoke select, insert, update, delete on tables from keel_app;`,
    );
    this.addSql(`alter default privileges in schema public revoke usage, select on sequences from keel_app;`);
    this.addSql(`revoke all on all tables in schema public from keel_app;`);
    this.addSql(`revoke all on all sequences in schema public from keel_app;`);
    this.addSql(`revoke usage on schema public from keel_app;`);
  }
}
