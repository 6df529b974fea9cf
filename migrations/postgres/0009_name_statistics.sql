-- Statistics on the expression nameContains filters by.
--
-- FileFilter.nameContains is lower(name COLLATE "default") LIKE '%…%'.
-- With no statistics on that expression PostgreSQL guesses a pattern's
-- selectivity from its length alone (a 7-letter word: a few rows in a
-- million), so for a word in a tenth of the names it sorted every file of
-- the bucket instead of walking the creation-time index until the page was
-- full: a parallel sequential scan of 1,000,000 rows, 2 requests/s against
-- 132 on 10,000 files (TestBenchScale). Statistics on the expression let
-- ANALYZE sample the lower-cased names, and the planner estimates the
-- pattern from that sample (PostgreSQL 14+).
CREATE STATISTICS IF NOT EXISTS files_name_lower_stats ON (lower(name COLLATE "default")) FROM files;
-- split
ANALYZE files;
