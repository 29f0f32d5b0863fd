import { Migration } from '@mikro-orm/migrations';

export class Migration20261126140000_billing extends Migration {
  override name = 'Migration20261126140000_billing';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "subscriptions" ("id" uuid not null, "organization_id" uuid not null, "type" varchar(40) not null default 'default', "stripe_id" varchar(255) not null, "stripe_customer_id" varchar(255) not null, "stripe_price" varchar(255) not null, "stripe_item_id" varchar(255) null, "quantity" int not null default 1, "stripe_status" varchar(32) not null, "status" text not null, "trial_ends_at" timestamptz null, "current_period_start" timestamptz null, "current_period_end" timestamptz null, "cancel_at_period_end" boolean not null default false, "ends_at" timestamptz null, "failed_payment_attempts" int not null default 0, "last_payment_failure_at" timestamptz null, "last_payment_failure_message" varchar(500) null, "suspended_at" timestamptz null, "stripe_state_at" timestamptz null, "version" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "subscriptions" add constraint "subscriptions_stripe_id_unique" unique ("stripe_id");`,
    );
    this.addSql(
      `create index "subscriptions_organization_id_created_at_index" on "subscriptions" ("organization_id", "created_at");`,
    );
    this.addSql(`create index "subscriptions_status_index" on "subscriptions" ("status");`);
    this.addSql(
      `alter table "subscriptions" add constraint "subscriptions_status_check" check ("status" in ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete', 'incomplete_expired', 'paused', 'canceling', 'suspended'));`,
    );
    this.addSql(
      `alter table "subscriptions" add constraint "subscriptions_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );

    this.addSql(
      `create table "stripe_events" ("id" varchar(255) not null, "type" varchar(100) not null, "object_id" varchar(255) null, "organization_id" uuid null, "api_version" varchar(40) null, "livemode" boolean not null default false, "stripe_created_at" timestamptz not null, "payload" jsonb not null, "received_at" timestamptz not null, "processed_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`,
    );
    this.addSql(`create index "stripe_events_received_at_index" on "stripe_events" ("received_at");`);
    this.addSql(
      `create index "stripe_events_type_received_at_index" on "stripe_events" ("type", "received_at");`,
    );
    this.addSql(
      `alter table "stripe_events" add constraint "stripe_events_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete set null;`,
    );

    this.addSql(
      `create table "billing_notifications" ("id" uuid not null, "organization_id" uuid not null, "kind" text not null, "stripe_event_id" varchar(255) not null, "invoice_id" varchar(255) null, "attempt" int null, "recipient" varchar(254) null, "status" text not null default 'recorded', "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "billing_notifications" add constraint "billing_notifications_stripe_event_id_kind_unique" unique ("stripe_event_id", "kind");`,
    );
    this.addSql(
      `create index "billing_notifications_organization_id_created_at_index" on "billing_notifications" ("organization_id", "created_at");`,
    );
    this.addSql(
      `alter table "billing_notifications" add constraint "billing_notifications_kind_check" check ("kind" in ('payment_failed_first', 'payment_failed_second', 'payment_failed_final', 'suspended', 'reactivated', 'trial_will_end'));`,
    );
    this.addSql(
      `alter table "billing_notifications" add constraint "billing_notifications_status_check" check ("status" in ('recorded', 'queued', 'sent'));`,
    );
    this.addSql(
      `alter table "billing_notifications" add constraint "billing_notifications_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`,
    );

    this.addSql(`alter table "subscriptions" enable row level security;`);
    this.addSql(
      `create policy "subscriptions_tenant_policy" on "subscriptions" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
    this.addSql(`alter table "billing_notifications" enable row level security;`);
    this.addSql(
      `create policy "billing_notifications_tenant_policy" on "billing_notifications" using ("organization_id" = current_setting('mikro.tenant.organizationId')::uuid);`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of ['billing_notifications', 'stripe_events', 'subscriptions']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
