package enginetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Vector is one way a database owner plants code for dbfleet's admin to run. Its SQL is a
// template: {{owner}}, {{db}}, {{admin}}, {{repl}} (the replication role) and {{vector}} are
// filled in, quoted. Every hook calls public.payload (baseSchema), which records current_user
// and tries, each step in its own exception block, to escalate the owner.
type Vector struct {
	Name string
	// Migration runs as the owner on both sides, as the schema's second migration.
	Migration string
	// Seed runs as the owner on the source after the migrations: rows the replica copies.
	Seed string
	// Replica runs as the owner on the replica only, over its own login: what only the
	// replica has (the owner holds its password, as Terraform's output gives it).
	Replica string
	// Outside maps other databases of both servers (postgres, template1) to what the owner
	// plants there over its own login. Planting may be refused (from PostgreSQL 15 PUBLIC
	// may not create in public); the vector then checks that it was.
	Outside map[string]string
	// Diverges: the vector makes the replica's rows differ from the source's on purpose (a
	// column only the replica has), so the consistency check must find a difference.
	Diverges bool
	// Serial: it plants outside its own database, so it runs alone, before the others.
	Serial bool
}

func (v Vector) outsideDatabases() []string { return slices.Sorted(maps.Keys(v.Outside)) }

// baseSchema is the first migration of every vector: the evidence table, the payload and the
// tables the paths work on.
const baseSchema = `CREATE UNLOGGED TABLE public.dbfleet_evidence (vector text, who text, sess text,
	at timestamptz DEFAULT pg_catalog.now());
GRANT INSERT ON public.dbfleet_evidence TO PUBLIC;
` + payloadFunctions + `
CREATE SCHEMA app;
CREATE TABLE app.items (id int PRIMARY KEY, v text);
CREATE TABLE public.kv (k text PRIMARY KEY, v text);`

// payloadFunctions are public.payload and its wrappers, also planted outside the database.
const payloadFunctions = `CREATE FUNCTION public.payload(v text) RETURNS boolean LANGUAGE plpgsql AS $p$
BEGIN
	BEGIN INSERT INTO public.dbfleet_evidence (vector, who, sess) VALUES (v, current_user, session_user); EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{owner}} SUPERUSER; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{owner}} CREATEROLE; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{owner}} CREATEDB; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{owner}} REPLICATION; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{owner}} BYPASSRLS; EXCEPTION WHEN others THEN NULL; END;
	BEGIN GRANT pg_read_server_files TO {{owner}}; EXCEPTION WHEN others THEN NULL; END;
	BEGIN GRANT pg_write_server_files TO {{owner}}; EXCEPTION WHEN others THEN NULL; END;
	BEGIN GRANT pg_execute_server_program TO {{owner}}; EXCEPTION WHEN others THEN NULL; END;
	BEGIN GRANT {{admin}} TO {{owner}}; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{repl}} SUPERUSER; EXCEPTION WHEN others THEN NULL; END;
	BEGIN ALTER ROLE {{repl}} CREATEROLE; EXCEPTION WHEN others THEN NULL; END;
	RETURN true;
END $p$;
CREATE FUNCTION public.payload_int(v text, x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $p$
BEGIN PERFORM public.payload(v); RETURN x; END $p$;
CREATE FUNCTION public.payload_text(v text) RETURNS text LANGUAGE plpgsql AS $p$
BEGIN PERFORM public.payload(v); RETURN v; END $p$;
CREATE FUNCTION public.payload_trigger() RETURNS trigger LANGUAGE plpgsql AS $p$
BEGIN PERFORM public.payload(TG_ARGV[0]); IF TG_LEVEL = 'ROW' THEN RETURN coalesce(NEW, OLD); END IF; RETURN NULL; END $p$;`

// baseSeed are the rows of the base tables, inserted on the source.
const baseSeed = `INSERT INTO app.items SELECT g, 'item ' || g FROM pg_catalog.generate_series(1, 40) g;
INSERT INTO public.kv VALUES ('a', '1'), ('b', '2');`

// shadows plants, in schema, a function for each signature that calls the payload: built-ins
// the admin calls, for the argument types it passes (name, text, oid, regclass). An exact
// match in public beats a built-in that needs a coercion; one with the built-in's signature
// wins where the schema comes before pg_catalog on the search_path.
func shadows(schema string, signatures ...string) string {
	var b strings.Builder
	for _, sig := range signatures {
		fmt.Fprintf(&b, "CREATE FUNCTION %s.%s RETURNS text LANGUAGE plpgsql AS $s$ BEGIN PERFORM public.payload('{{vector}}'); RETURN NULL; END $s$;\n", schema, sig)
	}
	return b.String()
}

var (
	nameShadows = []string{"quote_ident(name)", "format(text, name)", "format(text, name, name)", "format(text, name, text)",
		"lower(name)", "upper(name)", "length(name)", "to_regclass(name)", "pg_has_role(name, name, text)",
		"has_database_privilege(name, name, text)", "pg_drop_replication_slot(text)"}
	textShadows = []string{"quote_ident(text)", "quote_literal(text)", "md5(text)", "format(text)", "format(text, text, text)",
		"to_regclass(text)", "current_setting(text)", "set_config(text, text, boolean)", "lower(text)", "array_position(int2[], int2)"}
	oidShadows = []string{"pg_get_userbyid(oid)", "format_type(oid, integer)", "pg_get_function_identity_arguments(oid)",
		"pg_has_role(oid, text, text)", "obj_description(oid, name)", "pg_get_indexdef(oid)", "pg_wal_lsn_diff(pg_lsn, pg_lsn)"}
	regclassShadows = []string{"pg_relation_size(regclass)", "pg_table_size(regclass)", "pg_total_relation_size(regclass)",
		"pg_relation_filenode(regclass)"}
)

// publicFirst makes public come before pg_catalog for every session of the database that does
// not say otherwise, as an owner may.
var publicFirst = databaseSet("search_path = public, pg_catalog")

// databaseSet is ALTER DATABASE ... SET for the database the migration runs in (the scratch
// database when validating); %I in a setting is the migrating role.
func databaseSet(settings ...string) string {
	var b strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&b, "DO $d$ BEGIN EXECUTE pg_catalog.format('ALTER DATABASE %%I SET %s', pg_catalog.current_database(), current_user); END $d$;\n",
			strings.ReplaceAll(s, "'", "''"))
	}
	return b.String()
}

// operators plants operators in public that shadow the built-ins for the types the admin
// compares.
const operators = `CREATE FUNCTION public.op_eq(name, text) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1::text OPERATOR(pg_catalog.=) $2; END $o$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.op_eq);
CREATE FUNCTION public.op_eq(name, name) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $o$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.op_eq);
CREATE FUNCTION public.op_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $o$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.op_eq);
CREATE FUNCTION public.op_ne(name, name) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1 OPERATOR(pg_catalog.<>) $2; END $o$;
CREATE OPERATOR public.<> (LEFTARG = name, RIGHTARG = name, FUNCTION = public.op_ne);
CREATE FUNCTION public.op_nre(text, text) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1 OPERATOR(pg_catalog.!~) $2; END $o$;
CREATE OPERATOR public.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.op_nre);
CREATE FUNCTION public.op_ge(pg_lsn, pg_lsn) RETURNS boolean LANGUAGE plpgsql AS $o$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1 OPERATOR(pg_catalog.>=) $2; END $o$;
CREATE OPERATOR public.>= (LEFTARG = pg_lsn, RIGHTARG = pg_lsn, FUNCTION = public.op_ge);
`

// catalogViews plants views in public named like the catalog views and tables the admin reads.
func catalogViews(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "CREATE VIEW public.%[1]s AS SELECT * FROM pg_catalog.%[1]s WHERE public.payload('{{vector}}');\n", n)
	}
	return b.String()
}

// outsidePlant is what an owner plants in another database's public schema.
var outsidePlant = `CREATE UNLOGGED TABLE public.dbfleet_evidence (vector text, who text, sess text, at timestamptz DEFAULT pg_catalog.now());
GRANT INSERT ON public.dbfleet_evidence TO PUBLIC;
` + payloadFunctions + "\n" + shadows("public", nameShadows...) + catalogViews("pg_roles", "pg_database", "pg_replication_slots")

// Vectors are the ways to plant code the suite checks, each crossed with every path.
var Vectors = []Vector{
	{Name: "shadow_name", Migration: shadows("public", nameShadows...)},
	{Name: "shadow_text", Migration: publicFirst + shadows("public", textShadows...)},
	{Name: "shadow_oid", Migration: publicFirst + shadows("public", oidShadows...)},
	{Name: "shadow_regclass", Migration: publicFirst + shadows("public", regclassShadows...)},
	{Name: "shadow_operators", Migration: publicFirst + operators},
	{Name: "shadow_other_schema", Migration: "CREATE SCHEMA lib;\n" + shadows("lib", append(nameShadows, textShadows...)...) +
		databaseSet("search_path = lib, public, pg_catalog") + "ALTER ROLE CURRENT_USER SET search_path = lib, public, pg_catalog;\n"},
	{Name: "catalog_views", Migration: publicFirst + catalogViews("pg_roles", "pg_database", "pg_namespace", "pg_class", "pg_tables",
		"pg_publication_tables", "pg_stat_subscription", "pg_replication_slots", "pg_db_role_setting", "pg_depend", "pg_index")},
	{Name: "cast_row_type", Migration: `CREATE FUNCTION public.kv_text(public.kv) RETURNS text LANGUAGE plpgsql AS $c$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1.k; END $c$;
CREATE CAST (public.kv AS text) WITH FUNCTION public.kv_text(public.kv);
CREATE FUNCTION public.items_text(app.items) RETURNS text LANGUAGE plpgsql AS $c$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN $1.v; END $c$;
CREATE CAST (app.items AS text) WITH FUNCTION public.items_text(app.items);`},
	{Name: "cast_key_type", Migration: `CREATE TYPE public.mood AS ENUM ('calm', 'glad', 'sad');
CREATE FUNCTION public.mood_text(public.mood) RETURNS text LANGUAGE plpgsql AS $c$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN pg_catalog.textin(pg_catalog.enum_out($1)); END $c$;
CREATE CAST (public.mood AS text) WITH FUNCTION public.mood_text(public.mood);
CREATE FUNCTION public.text_mood(text) RETURNS public.mood LANGUAGE plpgsql AS $c$
	BEGIN PERFORM public.payload('{{vector}}'); RETURN pg_catalog.enum_in(pg_catalog.textout($1), 'public.mood'::pg_catalog.regtype); END $c$;
CREATE CAST (text AS public.mood) WITH FUNCTION public.text_mood(text);
CREATE TABLE public.moods (m public.mood PRIMARY KEY, n int);`,
		Seed: "INSERT INTO public.moods VALUES ('calm', 1), ('glad', 2), ('sad', 3);"},
	{Name: "domain_check", Migration: `CREATE DOMAIN public.dkey AS int CHECK (public.payload('{{vector}}'));
CREATE TABLE public.dk (id public.dkey PRIMARY KEY, v text);`,
		Seed: "INSERT INTO public.dk SELECT g, 'd' FROM pg_catalog.generate_series(1, 12) g;"},
	{Name: "trigger_plain", Migration: `CREATE TRIGGER plain_row BEFORE INSERT OR UPDATE OR DELETE ON public.kv
	FOR EACH ROW EXECUTE FUNCTION public.payload_trigger('{{vector}}');
CREATE TRIGGER plain_stmt AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app.items
	FOR EACH STATEMENT EXECUTE FUNCTION public.payload_trigger('{{vector}}');`},
	{Name: "trigger_always", Migration: `CREATE TRIGGER always_row BEFORE INSERT OR UPDATE OR DELETE ON public.kv
	FOR EACH ROW EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE public.kv ENABLE ALWAYS TRIGGER always_row;
CREATE TRIGGER always_stmt AFTER INSERT OR UPDATE OR DELETE ON app.items
	FOR EACH STATEMENT EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE app.items ENABLE ALWAYS TRIGGER always_stmt;`},
	{Name: "trigger_replica", Migration: `CREATE TRIGGER replica_row BEFORE INSERT OR UPDATE OR DELETE ON public.kv
	FOR EACH ROW EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE public.kv ENABLE REPLICA TRIGGER replica_row;
CREATE TRIGGER replica_items AFTER INSERT OR UPDATE ON app.items
	FOR EACH ROW EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE app.items ENABLE REPLICA TRIGGER replica_items;`},
	{Name: "trigger_truncate", Migration: `CREATE TRIGGER truncate_always BEFORE TRUNCATE ON public.kv
	FOR EACH STATEMENT EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE public.kv ENABLE ALWAYS TRIGGER truncate_always;
CREATE TRIGGER truncate_plain AFTER TRUNCATE ON app.items
	FOR EACH STATEMENT EXECUTE FUNCTION public.payload_trigger('{{vector}}');
CREATE TRIGGER truncate_replica AFTER TRUNCATE ON app.items
	FOR EACH STATEMENT EXECUTE FUNCTION public.payload_trigger('{{vector}}');
ALTER TABLE app.items ENABLE REPLICA TRIGGER truncate_replica;`},
	{Name: "rules", Migration: `CREATE RULE kv_insert AS ON INSERT TO public.kv DO ALSO SELECT public.payload('{{vector}}');
CREATE RULE items_update AS ON UPDATE TO app.items DO ALSO SELECT public.payload('{{vector}}');
CREATE RULE items_delete AS ON DELETE TO app.items DO ALSO SELECT public.payload('{{vector}}');`},
	{Name: "rls_policies", Migration: `ALTER TABLE public.kv ENABLE ROW LEVEL SECURITY;
CREATE POLICY kv_all ON public.kv USING (public.payload('{{vector}}')) WITH CHECK (public.payload('{{vector}}'));
ALTER TABLE app.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_all ON app.items USING (public.payload('{{vector}}'));`},
	{Name: "index_expressions", Migration: `CREATE INDEX kv_expr ON public.kv (public.payload_int('{{vector}}', pg_catalog.length(k)));
CREATE INDEX items_partial ON app.items (id) WHERE public.payload_int('{{vector}}', id) > 0;`},
	{Name: "check_constraints", Migration: `ALTER TABLE public.kv ADD CONSTRAINT kv_check CHECK (public.payload_int('{{vector}}', 1) = 1);`},
	{Name: "replica_only_columns", Diverges: true,
		Replica: `ALTER TABLE public.kv ADD COLUMN extra text DEFAULT public.payload_text('{{vector}}');
ALTER TABLE app.items ADD COLUMN g int GENERATED ALWAYS AS (public.payload_int('{{vector}}', id)) STORED;`},
	{Name: "database_settings", Migration: shadows("public", nameShadows...) + databaseSet("search_path = public, pg_catalog", "role = %I",
		"check_function_bodies = off", "default_transaction_isolation = 'serializable'", "idle_in_transaction_session_timeout = '1min'")},
	{Name: "role_settings", Migration: shadows("public", nameShadows...) + "ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog;\n" +
		"DO $d$ BEGIN EXECUTE pg_catalog.format('ALTER ROLE CURRENT_USER IN DATABASE %I SET default_transaction_isolation = %L', pg_catalog.current_database(), 'repeatable read'); END $d$;\n"},
	{Name: "default_privileges", Migration: `ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO PUBLIC;`},
	{Name: "outside_postgres", Serial: true, Outside: map[string]string{"postgres": outsidePlant}},
	{Name: "outside_template1", Serial: true, Outside: map[string]string{"template1": outsidePlant}},
}
