-- PostgreSQL gains statistics on lower(name) here, for nameContains's
-- plans. SQLite keeps no statistics on expressions, so there is nothing
-- to add; the version exists on both databases so that they share one
-- list of migrations.
SELECT 1;
