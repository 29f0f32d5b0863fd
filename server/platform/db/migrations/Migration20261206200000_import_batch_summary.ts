import { Migration } from '@mikro-orm/migrations';

/**
 * When a batch's summary went out (the same time on each of its files): the batch's finally callback and the imports
 * reconciler (for batches whose queue record Redis lost) both claim it, so it goes out once. Batches already
 * finished count as summarized; batches still running are summarized by their callback as before.
 */
export class Migration20261206200000_import_batch_summary extends Migration {
  override name = 'Migration20261206200000_import_batch_summary';

  override up(): void | Promise<void> {
    this.addSql(`alter table "imports" add column "batch_summarized_at" timestamptz null;`);
    this.addSql(
      `update "imports" set "batch_summarized_at" = now() where "batch_id" in (select "batch_id" from "imports" where "batch_id" is not null group by "batch_id" having bool_and("status" in ('completed', 'invalid', 'failed')));`,
    );
    this.addSql(
      `create index "imports_unsummarized_batches" on "imports" ("batch_id") where "batch_id" is not null and "batch_summarized_at" is null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "imports_unsummarized_batches";`);
    this.addSql(`alter table "imports" drop column if exists "batch_summarized_at";`);
  }
}
