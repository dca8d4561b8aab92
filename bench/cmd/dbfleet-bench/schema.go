package main

import "github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"

// createMigrations are the schema every benchmark database starts with:
// what both dbfleet and the psql floors run when they create a database.
var createMigrations = []string{
	`CREATE TABLE orders (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer   text NOT NULL,
    total      numeric(12, 2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);`,
	`CREATE TABLE order_items (
    order_id bigint NOT NULL REFERENCES orders (id),
    sku      text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX orders_customer ON orders (customer);`,
}

// upgradeMigrations are the versions the rollout benchmark ships, one per
// run, after createMigrations.
var upgradeMigrations = []string{
	`ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';`,
	`CREATE INDEX orders_created_at ON orders (created_at);`,
	`ALTER TABLE order_items ADD COLUMN price numeric(12, 2);`,
	`CREATE TABLE refunds (order_id bigint PRIMARY KEY REFERENCES orders (id), reason text);`,
	`ALTER TABLE refunds ADD COLUMN refunded_at timestamptz;`,
}

// wireMigrations numbers migrations from version 1.
func wireMigrations(sqls []string) []apiv1.Migration {
	out := make([]apiv1.Migration, len(sqls))
	for i, s := range sqls {
		out[i] = apiv1.Migration{Version: int64(i + 1), Up: s}
	}
	return out
}
