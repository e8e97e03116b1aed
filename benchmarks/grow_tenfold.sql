-- Grow a PostgreSQL database of N demo matches (migrated to head) to 10N: nine copies of
-- every league, its teams, matches, features and scope counters under new codes (SYN1R1...).
-- The benchmark's 1M database: createdb -T <100k db> <1M db>; psql <1M db> -f this file.
DO $$
DECLARE
  r int; mcols text; fcols text;
  lmax int := (select max(id) from leagues);
  tmax int := (select max(id) from teams);
  mmax int := (select max(id) from matches);
BEGIN
  SELECT string_agg(quote_ident(column_name), ', ') INTO mcols FROM information_schema.columns
   WHERE table_name = 'matches' AND column_name NOT IN ('id','league_id','home_team_id','away_team_id');
  SELECT string_agg(quote_ident(column_name), ', ') INTO fcols FROM information_schema.columns
   WHERE table_name = 'match_features' AND column_name <> 'match_id';
  FOR r IN 1..9 LOOP
    INSERT INTO leagues (id, code, name) SELECT id + r*lmax, code || 'R' || r, name FROM leagues WHERE id <= lmax;
    INSERT INTO teams (id, league_id, name) SELECT id + r*tmax, league_id + r*lmax, name FROM teams WHERE id <= tmax;
    EXECUTE format('INSERT INTO matches (id, league_id, home_team_id, away_team_id, %s) SELECT id + %s, league_id + %s, home_team_id + %s, away_team_id + %s, %s FROM matches WHERE id <= %s',
      mcols, r*mmax, r*lmax, r*tmax, r*tmax, mcols, mmax);
    EXECUTE format('INSERT INTO match_features (match_id, %s) SELECT match_id + %s, %s FROM match_features WHERE match_id <= %s', fcols, r*mmax, fcols, mmax);
    INSERT INTO scope_versions (league_id, version, features_version) SELECT league_id + r*lmax, version, features_version FROM scope_versions WHERE league_id <= lmax;
  END LOOP;
  PERFORM setval('leagues_id_seq', (select max(id) from leagues));
  PERFORM setval('teams_id_seq', (select max(id) from teams));
  PERFORM setval('matches_id_seq', (select max(id) from matches));
END $$;
ANALYZE;
